// presets: the named models of the CLI (mlp-ae ... vq-vae-2048), each the exact reference architecture, on cpu.
// The AE / VAE presets are shared with the cuda build (dense_presets.hpp, tools/cli/device_runner.cu).
#pragma once
#include <memory>
#include <string>

#include "cli/dense_presets.hpp"
#include "cli/run_config.hpp"
#include "cli/runner.hpp"
#include "vae/decoders/resnet_decoder.hpp"
#include "vae/encoders/resnet_encoder.hpp"
#include "vae/models/vqvae.hpp"
#include "vae/quantizers/ema_vector_quantizer.hpp"
#include "vae/quantizers/fsq.hpp"
#include "vae/quantizers/gumbel_quantizer.hpp"
#include "vae/quantizers/residual_vq.hpp"
#include "vae/quantizers/vector_quantizer.hpp"

namespace vae::cli {

// VQ-VAE (vqvae.py): K codes of dimension D on an (H/4)x(W/4) grid, on backend B (cpu today; the same code is meant
// for cuda once the quantizers and ResNet blocks run there).
template <class B>
std::unique_ptr<runner_on<B>> make_vq_runner(const run_config& c, image_shape s, generator& init) {
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
  auto build = [&](auto quantizer) -> std::unique_ptr<runner_on<B>> {
    VQVAE<ResNetEncoder<float, B>, ResNetDecoder<float, B>, decltype(quantizer), float, B> m(
        ResNetEncoder<float, B>(eo), ResNetDecoder<float, B>(dopt), std::move(quantizer));
    return std::make_unique<vq_runner<decltype(m)>>(std::move(m), s, init);
  };
  if (c.quantizer == "vq") return build(VectorQuantizer<float, B>(K, c.code_dim, qo));
  if (c.quantizer == "ema") return build(EMAVectorQuantizer<float, B>(K, c.code_dim, qo));
  if (c.quantizer == "rvq") return build(ResidualVQ<float, B>(/*levels=*/2, K, c.code_dim, qo));
  if (c.quantizer == "gumbel") {
    gumbel_options go;
    go.seed = c.seed;
    return build(GumbelQuantizer<float, B>(c.code_dim, K, c.code_dim, go));
  }
  if (c.quantizer == "fsq") {
    // FSQ's implicit codebook: levels {8, 5, 5, 5} = 1000 codes on 4 channels (the encoder emits 4).
    eo.code_dim = 4;
    dopt.code_dim = 4;
    return build(FSQ<float, B>({8, 5, 5, 5}));
  }
  vae::detail::throw_error(
      cat("unknown quantizer '", c.quantizer, "' for ", c.model, ": choose vq, ema, fsq, gumbel or rvq"));
}

// Any CLI model on the cpu.
inline std::unique_ptr<runner_on<cpu>> make_runner(const run_config& c, image_shape s, generator& init) {
  check_known_model(c.model);
  check_res_blocks(c);
  if (is_vq(c.model)) return make_vq_runner<cpu>(c, s, init);
  return make_dense_runner<cpu>(c, s, init);
}

}  // namespace vae::cli
