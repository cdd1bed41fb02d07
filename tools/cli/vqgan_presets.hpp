// vqgan_presets: the builder of the CLI's vqgan presets (kind vqgan of preset_registry.hpp: vqgan, vqgan-shapes,
// vqgan-seed, vqgan-f8-2048), each entry's taming layout with the CLI's quantizers and GAN losses, on the cpu.
#pragma once
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cli/dense_presets.hpp"
#include "cli/preset_registry.hpp"
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

// The sizes of a vqgan run: images padded to side² (vqgan_padded_side), the preset's layout, K codes of dimension D.
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
    const vqgan_layout& l = preset_named(c.model).vqgan;
    check(side >= l.min_side(), [&] {
      return cat(c.model, ": images of ", s.h, "x", s.w, " are too small for f = ", l.factor(), " (padded side ", side,
                 " < ", l.min_side(), ")");
    });
    encoder.ch = decoder.ch = c.ch;
    encoder.ch_mult = decoder.ch_mult = l.ch_mult;
    encoder.num_res_blocks = decoder.num_res_blocks = l.num_res_blocks;
    encoder.attn_resolutions = decoder.attn_resolutions = {l.attention_at(side)};
    z_channels = l.z_channels;
    disc.ndf = l.disc_ndf;
    disc.n_layers = l.disc_layers;
    encoder.resolution = decoder.resolution = side;
    encoder.z_channels = decoder.z_channels = z_channels;
    encoder.in_channels = s.c;
    decoder.out_channels = s.c;
    disc.in_channels = s.c;
    quantizer.beta = 0.25;
    quantizer.seed = c.seed;
    quantizer.restart_after_steps = c.dead_code_restart ? c.restart_after_steps : 0;
    quantizer.kmeans_init = c.kmeans_init;
    quantizer.restart_from = restart_draw_of(c);
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
