// vq_presets: the CLI's VQ-VAE (vqvae.py's ResNet encoder/decoder around a quantizer) on any backend, for any
// quantizer. presets.hpp builds every quantizer variant on cpu; device_runner.cu builds those that run on cuda.
#pragma once
#include <cstdint>
#include <memory>

#include "cli/preset_registry.hpp"
#include "cli/run_config.hpp"
#include "cli/runner.hpp"
#include "cli/vq_runner.hpp"
#include "vae/decoders/resnet_decoder.hpp"
#include "vae/encoders/resnet_encoder.hpp"
#include "vae/models/vqvae.hpp"
#include "vae/quantizers/quantizer.hpp"

namespace vae::cli {

// The sizes of a vq-vae run: K codes of dimension D on an (H/4)x(W/4) grid.
struct vq_preset {
  resnet_encoder_options encoder;
  resnet_decoder_options decoder;
  quantizer_options quantizer;
  std::int64_t codes = 512;  // K

  vq_preset(const run_config& c, image_shape s) {
    encoder.in_channels = s.c;
    encoder.code_dim = c.code_dim;
    decoder.code_dim = c.code_dim;
    decoder.out_channels = s.c;
    quantizer.seed = c.seed;
    quantizer.restart_after_steps = c.dead_code_restart ? c.restart_after_steps : 0;
    quantizer.kmeans_init = c.kmeans_init;
    quantizer.restart_from = restart_draw_of(c);
    const preset& p = preset_named(c.model);
    codes = p.codes > 0 ? p.codes : c.codebook_size;  // vq-vae-2048 fixes its codebook
    encoder.downsamplings = p.vq_downsamplings;
    decoder.upsamplings = p.vq_downsamplings;
  }
  // The encoder's output and the decoder's input channels (FSQ: 4).
  void set_code_channels(std::int64_t d) {
    encoder.code_dim = d;
    decoder.code_dim = d;
  }

  template <class B, class Q>
  std::unique_ptr<runner_on<B>> build(Q quantizer, image_shape s, generator& init) const {
    VQVAE<ResNetEncoder<float, B>, ResNetDecoder<float, B>, Q, float, B> m(
        ResNetEncoder<float, B>(encoder), ResNetDecoder<float, B>(decoder), std::move(quantizer));
    return std::make_unique<vq_runner<decltype(m)>>(std::move(m), s, init);
  }
};

}  // namespace vae::cli
