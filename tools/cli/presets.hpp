// presets: the named models of the CLI (mlp-ae ... vq-vae-2048, vqgan), each the exact reference architecture, on cpu.
// The AE / VAE presets and the VQ-VAE's builder are shared with the cuda build (tools/cli/device_runner.cu).
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

// Any CLI model on the cpu.
inline std::unique_ptr<runner_on<cpu>> make_runner(const run_config& c, image_shape s, generator& init) {
  check_known_model(c.model);
  check_res_blocks(c);
  if (is_vq(c.model)) return make_vq_runner(c, s, init);
  if (is_vqgan(c.model)) return make_vqgan_runner(c, s, init);
  if (is_classifier(c.model)) return make_classifier_runner(c, s, init);
  return make_dense_runner<cpu>(c, s, init);
}

}  // namespace vae::cli
