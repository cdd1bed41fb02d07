// vqgan_presets: the CLI's VQGANs with the CLI's quantizers and GAN losses: vqgan (shared/reference/vqgan.py: taming's
// Encoder/Decoder at ch 32, ch_mult (1, 2, 2), one res block, attention at 8×8, z 64, a PatchGAN of ndf 32 and 2
// layers), vqgan-shapes (64×64 RGB captioned shapes, f = 4, K 1024), vqgan-seed (128×128 RGB shapes, f = 4: the
// lecture's 32×32 tokens of 2048 codes) and vqgan-f8-2048 (256×256 RGB, f = 8, K 2048).
#pragma once
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cli/dense_presets.hpp"
#include "cli/run_config.hpp"
#include "cli/runner.hpp"
#include "cli/vqgan_perceptual.hpp"
#include "cli/vqgan_runner.hpp"
#include "vae/adversarial/gan_loss.hpp"
#include "vae/adversarial/patch_discriminator.hpp"
#include "vae/decoders/vqgan_decoder.hpp"
#include "vae/encoders/vqgan_encoder.hpp"
#include "vae/models/vqgan.hpp"
#include "vae/quantizers/ema_vector_quantizer.hpp"
#include "vae/quantizers/vector_quantizer.hpp"

namespace vae::cli {

// The defaults each vqgan preset gives the flags a user left out (`given(flag)`: the flag was on the command line).
// vqgan: vqgan.py's lr and batch. vqgan-shapes: its own data and a run sized for ≤ 30 minutes on 2 cores (see
// docs/vqgan-training.md). vqgan-seed: 128×128 shapes, vqgan-shapes' layout with 2048 codes, the tokenizer of
// text2img-seed. vqgan-f8-2048: the user's images, each file centre-cropped and resized to 256×256 RGB.
inline void apply_vqgan_defaults(run_config& c, const std::function<bool(const char*)>& given) {
  if (!given("--lr")) c.lr = 2e-4;
  const bool batch_given = given("--batch") || given("--global-batch");
  if (c.model == "vqgan") {
    if (!batch_given) c.batch = 64;
  } else if (c.model == "vqgan-shapes") {
    if (!given("--data")) c.data = "shapes:size=64,n=768,test=100";
    if (!given("--channels")) c.channels = 3;
    if (!given("--codebook-size")) c.codebook_size = 1024;
    if (!given("--epochs")) c.epochs = 2;
    if (!given("--disc-start")) c.disc_start = 48;  // the first step of epoch 2
    if (!batch_given) c.batch = 16;
  } else if (c.model == "vqgan-seed") {
    if (!given("--data")) c.data = "shapes:size=128,n=2000,test=200";
    if (!given("--channels")) c.channels = 3;
    if (!given("--codebook-size")) c.codebook_size = 2048;
    if (!given("--epochs")) c.epochs = 2;
    if (!given("--disc-start")) c.disc_start = 250;  // the first step of epoch 2
    if (!batch_given) c.batch = 8;
  } else if (c.model == "vqgan-f8-2048") {
    check(given("--data"), "--model vqgan-f8-2048 trains on your own images: give --data folder:DIR (or npy:FILE.npy)");
    if (!given("--image-size")) c.image_size = 256;
    if (!given("--channels")) c.channels = 3;
    if (!given("--codebook-size")) c.codebook_size = 2048;
    if (!given("--ch")) c.ch = 128;
    if (!batch_given) c.batch = 8;
  }
}

// The sizes of a vqgan run: images padded to side² (vqgan_padded_side), f = 4 (8 for vqgan-f8-2048), K codes of
// dimension D.
struct vqgan_preset {
  vqgan_encoder_options encoder;
  vqgan_decoder_options decoder;
  patch_discriminator_options disc;
  quantizer_options quantizer;
  vqgan_options model;
  std::int64_t codes = 512, z_channels = 64;

  vqgan_preset(const run_config& c, image_shape s) {
    const std::int64_t side = vqgan_padded_side(s);
    check(side >= 8, [&] { return cat("vqgan: images of ", s.h, "x", s.w, " are too small (padded side ", side, " < 8)"); });
    check(c.ch > 0 && c.ch % 32 == 0, [&] {
      return cat("vqgan: --ch must be a positive multiple of 32 (GroupNorm's 32 groups), got ", c.ch);
    });
    encoder.ch = decoder.ch = c.ch;
    encoder.ch_mult = decoder.ch_mult = {1, 2, 2};  // f = 4
    encoder.num_res_blocks = decoder.num_res_blocks = 1;
    encoder.attn_resolutions = decoder.attn_resolutions = {8};
    disc.ndf = 32;
    disc.n_layers = 2;
    if (c.model == "vqgan-shapes" || c.model == "vqgan-seed") {  // attention on the token grid, taming's 3-layer PatchGAN
      encoder.attn_resolutions = decoder.attn_resolutions = {side / 4};
      disc.n_layers = 3;
    } else if (c.model == "vqgan-f8-2048") {  // taming's f = 8 layout (4 levels, 2 res blocks, attention at the tokens)
      check(side >= 32, [&] { return cat(c.model, ": images of ", s.h, "x", s.w, " are too small for f = 8 (padded side ", side, " < 32)"); });
      encoder.ch_mult = decoder.ch_mult = {1, 2, 2, 4};
      encoder.num_res_blocks = decoder.num_res_blocks = 2;
      encoder.attn_resolutions = decoder.attn_resolutions = {side / 8};
      z_channels = 256;
      disc.ndf = 64;
      disc.n_layers = 3;
    }
    encoder.resolution = decoder.resolution = side;
    encoder.z_channels = decoder.z_channels = z_channels;
    encoder.in_channels = s.c;
    decoder.out_channels = s.c;
    disc.in_channels = s.c;
    quantizer.beta = 0.25;
    quantizer.seed = c.seed;
    quantizer.restart_after_steps = c.dead_code_restart ? c.restart_after_steps : 0;
    quantizer.kmeans_init = c.kmeans_init;
    codes = c.codebook_size;
    check(c.disc_start >= 0, [&] { return cat("--disc-start must be >= 0, got ", c.disc_start); });
    model.disc_start = disc_start_schedule::at_step(c.disc_start);
    model.adaptive.disc_weight = c.disc_weight;
    check(c.rec_loss == "l1" || c.rec_loss == "l2",
          [&] { return cat("--rec-loss must be l1 or l2, got '", c.rec_loss, "'"); });
    model.reconstruction = c.rec_loss == "l1" ? reconstruction_loss::l1 : reconstruction_loss::l2;
    model.reuse_reconstruction = c.reuse_recon;
    model.lecam = {c.lecam_weight, 0.99};
    check(c.perceptual_weight >= 0 && std::isfinite(c.perceptual_weight),
          [&] { return cat("--perceptual-weight must be a finite number >= 0, got ", c.perceptual_weight); });
    model.perceptual_weight = c.perceptual_weight;
  }

  template <class B, class Q, class G, class P = NoPerceptual>
  std::unique_ptr<runner_on<B>> build(Q quantizer, G gan, image_shape s, generator& init, P perceptual = P{}) const {
    using M = VQGAN<VQGANEncoder<float, B>, VQGANDecoder<float, B>, Q, PatchDiscriminator<float, B>, G, P>;
    M m(VQGANEncoder<float, B>(encoder), VQGANDecoder<float, B>(decoder), std::move(quantizer),
        PatchDiscriminator<float, B>(disc), z_channels, quantizer_dim_, model, std::move(gan), std::move(perceptual));
    return std::make_unique<vqgan_runner<M>>(std::move(m), s, init);
  }
  std::int64_t quantizer_dim_ = 64;
};

// A vqgan preset on the cpu: --quantizer vq | ema, --gan-loss hinge | non-saturating.
inline std::unique_ptr<runner_on<cpu>> make_vqgan_runner(const run_config& c, image_shape s, generator& init) {
  vqgan_preset p(c, s);
  p.quantizer_dim_ = c.code_dim;
  const std::int64_t K = p.codes, D = c.code_dim;
  check(c.gan_loss == "hinge" || c.gan_loss == "non-saturating",
        [&] { return cat("--gan-loss must be hinge or non-saturating, got '", c.gan_loss, "'"); });
  const bool hinge = c.gan_loss == "hinge";
  check(c.quantizer == "vq" || c.quantizer == "ema",
        [&] { return cat("--quantizer ", c.quantizer, " is not available for vqgan: choose vq or ema"); });
  // The quantizer and GAN loss as types, then the perceptual policy: NoPerceptual, or the run-time choice of net.
  auto with = [&](auto quantizer, auto gan) -> std::unique_ptr<runner_on<cpu>> {
    if (!wants_perceptual(c.perceptual)) return p.build<cpu>(std::move(quantizer), std::move(gan), s, init);
    return p.build<cpu>(std::move(quantizer), std::move(gan), s, init, make_cli_perceptual(c.perceptual, s));
  };
  if (c.quantizer == "vq")
    return hinge ? with(VectorQuantizer<float>(K, D, p.quantizer), HingeLoss<float>())
                 : with(VectorQuantizer<float>(K, D, p.quantizer), NonSaturatingLoss<float>());
  return hinge ? with(EMAVectorQuantizer<float>(K, D, p.quantizer), HingeLoss<float>())
               : with(EMAVectorQuantizer<float>(K, D, p.quantizer), NonSaturatingLoss<float>());
}

}  // namespace vae::cli
