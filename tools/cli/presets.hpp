// presets: any entry of the preset registry (cli/preset_registry.hpp) built on the cpu, by its kind's builder.
// The AE / VAE and VQ-VAE builders are shared with the cuda build (tools/cli/device_runner.cu).
#pragma once
#include <memory>
#include <string>

#include "cli/classifier_runner.hpp"
#include "cli/dense_presets.hpp"
#include "cli/run_config.hpp"
#include "cli/runner.hpp"
#include "cli/vq_presets.hpp"
#include "cli/vqgan_presets.hpp"
#include "vae/quantizers/ema_vector_quantizer.hpp"
#include "vae/quantizers/fsq.hpp"
#include "vae/quantizers/gumbel_quantizer.hpp"
#include "vae/quantizers/residual_vq.hpp"
#include "vae/quantizers/vector_quantizer.hpp"

namespace vae::cli {

// VQ-VAE (vqvae.py) on the cpu, with any of the CLI's quantizers.
inline std::unique_ptr<runner_on<cpu>> make_vq_runner(const run_config& c, image_shape s, generator& init) {
  vq_preset p(c, s);
  const std::int64_t K = p.codes, D = c.code_dim;
  if (c.quantizer == "vq") return p.build<cpu>(VectorQuantizer<float>(K, D, p.quantizer), s, init);
  if (c.quantizer == "ema") return p.build<cpu>(EMAVectorQuantizer<float>(K, D, p.quantizer), s, init);
  if (c.quantizer == "rvq") return p.build<cpu>(ResidualVQ<float>(/*levels=*/2, K, D, p.quantizer), s, init);
  if (c.quantizer == "gumbel") {
    gumbel_options go;
    go.seed = c.seed;
    return p.build<cpu>(GumbelQuantizer<float>(D, K, D, go), s, init);
  }
  if (c.quantizer == "fsq") {
    // FSQ's implicit codebook: levels {8, 5, 5, 5} = 1000 codes on 4 channels (the encoder emits 4).
    p.set_code_channels(4);
    return p.build<cpu>(FSQ<float>({8, 5, 5, 5}), s, init);
  }
  vae::detail::throw_error(
      cat("unknown quantizer '", c.quantizer, "' for ", c.model, ": choose vq, ema, fsq, gumbel or rvq"));
}

// Any CLI preset on the cpu, by the kind its registry entry names.
inline std::unique_ptr<runner_on<cpu>> make_runner(const run_config& c, image_shape s, generator& init) {
  const preset& p = preset_named(c.model);
  check_res_blocks(c);
  switch (p.kind) {
    case preset_kind::vq: return make_vq_runner(c, s, init);
    case preset_kind::vqgan: return make_vqgan_runner(c, s, init);
    case preset_kind::classifier: return make_classifier_runner(c, s, init);
    case preset_kind::autoencoder:
    case preset_kind::vae: return make_dense_runner<cpu>(c, s, init);
    case preset_kind::text2img: break;
  }
  vae::detail::throw_error(cat(c.model, " is a text2img preset: a prior over a VQ run's tokens, trained by vae train ",
                               "--model ", c.model, " --tokenizer-run DIR, not an image model"));
}

}  // namespace vae::cli
