// dense_presets: the CLI's model names, and its AE / VAE presets (mlp-ae, conv-ae, mlp-vae, conv-vae) on any backend.
// presets.hpp builds them (and the VQ-VAEs) on cpu; device_runner.cu builds them on cuda from this same code.
#pragma once
#include <memory>
#include <string>

#include "cli/at_model_root.hpp"
#include "cli/run_config.hpp"
#include "cli/runner.hpp"
#include "vae/decoders/conv_decoder.hpp"
#include "vae/decoders/mlp_decoder.hpp"
#include "vae/divergences/analytic_kl.hpp"
#include "vae/encoders/conv_encoder.hpp"
#include "vae/encoders/mlp_encoder.hpp"
#include "vae/likelihoods/bernoulli.hpp"
#include "vae/models/autoencoder.hpp"
#include "vae/models/vae.hpp"
#include "vae/priors/standard_normal.hpp"
#include "vae/weighting/weighting.hpp"

namespace vae::cli {

inline bool is_vae(const std::string& m) { return m == "mlp-vae" || m == "conv-vae"; }
inline bool is_vq(const std::string& m) { return m == "vq-vae" || m == "vq-vae-2048"; }
inline bool is_vqgan(const std::string& m) { return m == "vqgan" || m == "vqgan-shapes" || m == "vqgan-seed" || m == "vqgan-f8-2048";
}
inline bool known_model(const std::string& m) {
  return m == "mlp-ae" || m == "conv-ae" || is_vae(m) || is_vq(m) || is_vqgan(m) || m == "classifier";
}
inline void check_known_model(const std::string& m) {
  check(known_model(m), [&] {
    return cat("unknown model '", m, "': choose mlp-ae, conv-ae, mlp-vae, conv-vae, vq-vae, vq-vae-2048, vqgan, vqgan-shapes, vqgan-seed, vqgan-f8-2048 or classifier");
  });
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

// mlp-ae, conv-ae, mlp-vae or conv-vae on backend B (the model must be one of those).
template <class B>
std::unique_ptr<runner_on<B>> make_dense_runner(const run_config& c, image_shape s, generator& init) {
  check_known_model(c.model);
  check_res_blocks(c);
  check(!is_vq(c.model) && !is_vqgan(c.model) && c.model != "classifier",
        [&] { return cat("make_dense_runner: ", c.model, " is not an AE or VAE preset"); });
  const std::int64_t latent = c.latent;
  // conv-ae / conv-vae: k residual blocks at c2 = 64 channels, 32 hidden; k = 0 is vae_conv.py exactly.
  const res_stack_options res{c.res_blocks, 0};
  check((s.h == s.w && s.h % 4 == 0) || c.model.starts_with("mlp"),
        [&] { return cat(c.model, ": images must be square with a side divisible by 4, got ", s.h, "x", s.w); });
  using MLPEnc = MLPEncoder<float, B>;
  using MLPDec = MLPDecoder<float, B>;
  using ConvEnc = ConvEncoder<float, B>;
  using ConvDec = AtModelRoot<ConvDecoder<float, B>>;
  if (c.model == "mlp-ae") {
    Autoencoder<MLPEnc, MLPDec, losses::BCEWithLogits, float, B> m(MLPEnc(s.pixels(), 512, 256, latent),
                                                                   MLPDec(latent, 256, 512, s.pixels()));
    return std::make_unique<ae_runner<decltype(m)>>(std::move(m), true, s, init);
  }
  if (c.model == "conv-ae") {
    Autoencoder<ConvEnc, ConvDec, losses::BCEWithLogits, float, B> m(
        ConvEnc(s.c, s.h, 32, 64, latent, res), ConvDec(ConvDecoder<float, B>(latent, s.h, 64, 32, s.c, res)));
    return std::make_unique<ae_runner<decltype(m)>>(std::move(m), false, s, init);
  }
  if (c.model == "mlp-vae") {
    VAE<MLPEnc, MLPDec, StandardNormalPrior, AnalyticGaussianKL, BernoulliLikelihood, ConstantBeta, float, B> m(
        MLPEnc(s.pixels(), 512, 256, 2 * latent), MLPDec(latent, 256, 512, s.pixels()), latent, {}, {}, {},
        ConstantBeta{c.beta});
    return std::make_unique<vae_runner<decltype(m)>>(std::move(m), true, s, init);
  }
  VAE<ConvEnc, ConvDec, StandardNormalPrior, AnalyticGaussianKL, BernoulliLikelihood, ConstantBeta, float, B> m(
      ConvEnc(s.c, s.h, 32, 64, 2 * latent, res), ConvDec(ConvDecoder<float, B>(latent, s.h, 64, 32, s.c, res)),
      latent, {}, {}, {}, ConstantBeta{c.beta});
  return std::make_unique<vae_runner<decltype(m)>>(std::move(m), false, s, init);
}

}  // namespace vae::cli
