// value_domain: the values each CLI model's likelihood accepts, for load_dataset's checks before training.
#pragma once
#include <string>

#include "cli/dense_presets.hpp"
#include "cli/run_config.hpp"
#include "vae/data/value_checks.hpp"

namespace vae::cli {

// mlp-vae / conv-vae: a Bernoulli likelihood, defined on [0, 1] (binarised at 0.5 by default, which would hide data
// in 0..255 as all ones); mlp-ae / conv-ae: binary cross-entropy with logits, whose targets are probabilities in
// [0, 1]. vq-vae / vq-vae-2048: mean squared error, defined for any finite value; data in 0..255 stored as float is
// still refused, since every other source and the pictures written are intensities in [0, 1].
inline data::value_domain value_domain_of(const run_config& c) {
  return is_vq(c.model) || is_vqgan(c.model) ? data::value_domain::intensities
                                                         : data::value_domain::unit_interval;
}

// Who needs the domain, for the error message: "mlp-vae's Bernoulli likelihood".
inline std::string value_domain_reason(const run_config& c) {
  if (is_vae(c.model)) return c.model + "'s Bernoulli likelihood";
  if (is_kind(c.model, preset_kind::autoencoder)) return c.model + "'s binary cross-entropy loss";
  if (is_vqgan(c.model)) return c.model + "'s reconstruction loss";
  return c.model + "'s mean squared error";
}

}  // namespace vae::cli
