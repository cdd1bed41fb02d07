// dense_presets: the builder of the CLI's AE / VAE presets (kinds autoencoder and vae of preset_registry.hpp) on any
// backend.
// presets.hpp builds them (and the VQ-VAEs) on cpu; device_runner.cu builds them on cuda from this same code.
#pragma once
#include <memory>
#include <string>

#include "cli/ae_runner.hpp"
#include "cli/at_model_root.hpp"
#include "cli/preset_registry.hpp"
#include "cli/run_config.hpp"
#include "cli/runner.hpp"
#include "cli/vae_runner.hpp"
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

// res_blocks changes the architecture of conv-ae / conv-vae only; elsewhere it would be silently ignored, so refuse it
// (also when it comes from a config file, which the command line's check does not see).
inline void check_res_blocks(const run_config& c) {
  check(c.res_blocks >= 0, [&] { return cat("--res-blocks must be >= 0, got ", c.res_blocks); });
  if (c.res_blocks != 0) check_accepts(preset_named(c.model), "--res-blocks", std::to_string(c.res_blocks));
}
// Bernoulli models see pixels binarised at > 0.5, as the references do; the others see intensities.
inline bool binarizes(const run_config& c) { return is_vae(c.model) && c.binarize; }

// An autoencoder or vae preset (mlp-ae, conv-ae, mlp-vae, conv-vae) on backend B: its net from the registry.
template <class B>
std::unique_ptr<runner_on<B>> make_dense_runner(const run_config& c, image_shape s, generator& init) {
  const preset& p = preset_named(c.model);
  check_res_blocks(c);
  check(p.kind == preset_kind::autoencoder || p.kind == preset_kind::vae,
        [&] { return cat("make_dense_runner: ", c.model, " is not an AE or VAE preset"); });
  const bool mlp = p.net == dense_net::mlp;
  const std::int64_t latent = c.latent;
  // conv-ae / conv-vae: k residual blocks at c2 = 64 channels, 32 hidden; k = 0 is vae_conv.py exactly.
  const res_stack_options res{c.res_blocks, 0};
  check((s.h == s.w && s.h % 4 == 0) || mlp,
        [&] { return cat(c.model, ": images must be square with a side divisible by 4, got ", s.h, "x", s.w); });
  using MLPEnc = MLPEncoder<float, B>;
  using MLPDec = MLPDecoder<float, B>;
  using ConvEnc = ConvEncoder<float, B>;
  using ConvDec = AtModelRoot<ConvDecoder<float, B>>;
  if (p.kind == preset_kind::autoencoder && mlp) {
    Autoencoder<MLPEnc, MLPDec, losses::BCEWithLogits, float, B> m(MLPEnc(s.pixels(), 512, 256, latent),
                                                                   MLPDec(latent, 256, 512, s.pixels()));
    return std::make_unique<ae_runner<decltype(m)>>(std::move(m), true, s, init);
  }
  if (p.kind == preset_kind::autoencoder) {
    Autoencoder<ConvEnc, ConvDec, losses::BCEWithLogits, float, B> m(
        ConvEnc(s.c, s.h, 32, 64, latent, res), ConvDec(ConvDecoder<float, B>(latent, s.h, 64, 32, s.c, res)));
    return std::make_unique<ae_runner<decltype(m)>>(std::move(m), false, s, init);
  }
  if (mlp) {
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
