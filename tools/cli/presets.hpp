// presets: the named models of the CLI (mlp-ae ... vq-vae-2048), each the exact reference architecture.
#pragma once
#include <memory>
#include <string>

#include "cli/run_config.hpp"
#include "cli/runner.hpp"
#include "vae/decoders/conv_decoder.hpp"
#include "vae/decoders/mlp_decoder.hpp"
#include "vae/decoders/resnet_decoder.hpp"
#include "vae/divergences/analytic_kl.hpp"
#include "vae/encoders/conv_encoder.hpp"
#include "vae/encoders/mlp_encoder.hpp"
#include "vae/encoders/resnet_encoder.hpp"
#include "vae/likelihoods/bernoulli.hpp"
#include "vae/models/autoencoder.hpp"
#include "vae/models/vae.hpp"
#include "vae/models/vqvae.hpp"
#include "vae/priors/standard_normal.hpp"
#include "vae/quantizers/ema_vector_quantizer.hpp"
#include "vae/quantizers/fsq.hpp"
#include "vae/quantizers/gumbel_quantizer.hpp"
#include "vae/quantizers/residual_vq.hpp"
#include "vae/quantizers/vector_quantizer.hpp"
#include "vae/weighting/weighting.hpp"

namespace vae::cli {

// Visits a part's parameters one level up: vae_conv.py keeps the decoder's fc and conv stack as two model
// attributes ("fc.*", "dec.*"), while VAE<> visits its decoder under "dec."; this drops that last component.
template <Layer L>
class AtModelRoot {
 public:
  using value_type = typename L::value_type;
  using backend = typename L::backend;
  explicit AtModelRoot(L inner) : inner_(std::move(inner)) {}
  const tensor<value_type, backend>& forward(const tensor<value_type, backend>& x) { return inner_.forward(x); }
  const tensor<value_type, backend>& backward(const tensor<value_type, backend>& dy) { return inner_.backward(dy); }
  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    std::string p = prefix;
    if (!p.empty() && p.back() == '.') p.pop_back();
    const auto dot = p.rfind('.');
    inner_.visit_parameters(dot == std::string::npos ? std::string() : p.substr(0, dot + 1), visit);
  }
  void set_training(bool t) { vae::set_training(inner_, t); }

 private:
  L inner_;
};

inline bool is_vae(const std::string& m) { return m == "mlp-vae" || m == "conv-vae"; }
inline bool is_vq(const std::string& m) { return m == "vq-vae" || m == "vq-vae-2048"; }
inline bool known_model(const std::string& m) {
  return m == "mlp-ae" || m == "conv-ae" || is_vae(m) || is_vq(m);
}
inline bool has_res_blocks_option(const std::string& m) { return m == "conv-ae" || m == "conv-vae"; }
// res_blocks changes the architecture of conv-ae / conv-vae only; elsewhere it would be silently ignored, so refuse it.
inline void check_res_blocks(const run_config& c) {
  check(c.res_blocks >= 0, [&] { return cat("--res-blocks must be >= 0, got ", c.res_blocks); });
  check(c.res_blocks == 0 || has_res_blocks_option(c.model), [&] {
    return cat("--res-blocks (", c.res_blocks, ") applies to conv-ae and conv-vae only, not to ", c.model,
               is_vq(c.model) ? " (its ResNet encoder and decoder have a fixed 2 residual blocks)" : "");
  });
}
// Bernoulli models see pixels binarised at > 0.5, as the references do; the others see intensities.
inline bool binarizes(const run_config& c) { return is_vae(c.model) && c.binarize; }

inline std::unique_ptr<runner> make_runner(const run_config& c, image_shape s, generator& init) {
  check(known_model(c.model), [&] {
    return cat("unknown model '", c.model, "': choose mlp-ae, conv-ae, mlp-vae, conv-vae, vq-vae or vq-vae-2048");
  });
  check_res_blocks(c);
  const std::int64_t latent = c.latent;
  // conv-ae / conv-vae: k residual blocks at c2 = 64 channels, 32 hidden; k = 0 is vae_conv.py exactly.
  const res_stack_options res{c.res_blocks, 0};
  if (c.model == "mlp-ae" || c.model == "conv-ae" || is_vae(c.model))
    check((s.h == s.w && s.h % 4 == 0) || c.model.starts_with("mlp"),
          [&] { return cat(c.model, ": images must be square with a side divisible by 4, got ", s.h, "x", s.w); });
  if (c.model == "mlp-ae") {
    Autoencoder<MLPEncoder<float>, MLPDecoder<float>, losses::BCEWithLogits> m(
        MLPEncoder<float>(s.pixels(), 512, 256, latent), MLPDecoder<float>(latent, 256, 512, s.pixels()));
    return std::make_unique<ae_runner<decltype(m)>>(std::move(m), true, s, init);
  }
  if (c.model == "conv-ae") {
    Autoencoder<ConvEncoder<float>, AtModelRoot<ConvDecoder<float>>, losses::BCEWithLogits> m(
        ConvEncoder<float>(s.c, s.h, 32, 64, latent, res),
        AtModelRoot(ConvDecoder<float>(latent, s.h, 64, 32, s.c, res)));
    return std::make_unique<ae_runner<decltype(m)>>(std::move(m), false, s, init);
  }
  if (c.model == "mlp-vae") {
    VAE<MLPEncoder<float>, MLPDecoder<float>, StandardNormalPrior, AnalyticGaussianKL, BernoulliLikelihood,
        ConstantBeta>
        m(MLPEncoder<float>(s.pixels(), 512, 256, 2 * latent), MLPDecoder<float>(latent, 256, 512, s.pixels()), latent,
          {}, {}, {}, ConstantBeta{c.beta});
    return std::make_unique<vae_runner<decltype(m)>>(std::move(m), true, s, init);
  }
  if (c.model == "conv-vae") {
    VAE<ConvEncoder<float>, AtModelRoot<ConvDecoder<float>>, StandardNormalPrior, AnalyticGaussianKL,
        BernoulliLikelihood, ConstantBeta>
        m(ConvEncoder<float>(s.c, s.h, 32, 64, 2 * latent, res),
          AtModelRoot(ConvDecoder<float>(latent, s.h, 64, 32, s.c, res)), latent, {}, {}, {}, ConstantBeta{c.beta});
    return std::make_unique<vae_runner<decltype(m)>>(std::move(m), false, s, init);
  }
  // VQ-VAE (vqvae.py): K codes of dimension D on an (H/4)x(W/4) grid.
  resnet_encoder_options eo;
  eo.in_channels = s.c;
  eo.code_dim = c.code_dim;
  resnet_decoder_options dopt;
  dopt.code_dim = c.code_dim;
  dopt.out_channels = s.c;
  quantizer_options qo;
  qo.seed = c.seed;
  qo.restart_after_steps = c.dead_code_restart ? c.restart_after_steps : 0;
  qo.kmeans_init = c.kmeans_init;
  const std::int64_t K = c.model == "vq-vae-2048" ? 2048 : c.codebook_size;
  auto build = [&](auto quantizer) -> std::unique_ptr<runner> {
    VQVAE<ResNetEncoder<float>, ResNetDecoder<float>, decltype(quantizer)> m(ResNetEncoder<float>(eo),
                                                                           ResNetDecoder<float>(dopt), std::move(quantizer));
    return std::make_unique<vq_runner<decltype(m)>>(std::move(m), s, init);
  };
  if (c.quantizer == "vq") return build(VectorQuantizer<float>(K, c.code_dim, qo));
  if (c.quantizer == "ema") return build(EMAVectorQuantizer<float>(K, c.code_dim, qo));
  if (c.quantizer == "rvq") return build(ResidualVQ<float>(/*levels=*/2, K, c.code_dim, qo));
  if (c.quantizer == "gumbel") {
    gumbel_options go;
    go.seed = c.seed;
    return build(GumbelQuantizer<float>(c.code_dim, K, c.code_dim, go));
  }
  if (c.quantizer == "fsq") {
    // FSQ's implicit codebook: levels {8, 5, 5, 5} = 1000 codes on 4 channels (the encoder emits 4).
    eo.code_dim = 4;
    dopt.code_dim = 4;
    return build(FSQ<float>({8, 5, 5, 5}));
  }
  vae::detail::throw_error(
      cat("unknown quantizer '", c.quantizer, "' for ", c.model, ": choose vq, ema, fsq, gumbel or rvq"));
}

}  // namespace vae::cli
