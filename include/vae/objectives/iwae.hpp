// IWAE objective (Burda et al. 2016): k importance samples per image, gradient through self-normalised weights.
#pragma once
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "vae/core/error.hpp"
#include "vae/core/rng.hpp"
#include "vae/distributions/gaussian.hpp"

namespace vae {

namespace detail {
// log_w [k·N] laid out sample-major (row s·N + i is sample s of image i). Writes bound[i] = log(1/k Σ_s exp(log_w))
// and weight[s·N + i] = exp(log_w − logsumexp_s log_w) / N: the self-normalised importance weights scaled so that
// d(mean_i −bound_i)/d log_w = −weight.
inline void iwae_weights(std::span<const double> log_w, std::int64_t k, std::int64_t n, std::span<double> bound,
                         std::span<double> weight) {
  for (std::int64_t i = 0; i < n; ++i) {
    dist::running_logsumexp lse;
    for (std::int64_t s = 0; s < k; ++s) lse.add(log_w[static_cast<std::size_t>(s * n + i)]);
    const double l = lse.value();
    bound[static_cast<std::size_t>(i)] = l - std::log(static_cast<double>(k));
    for (std::int64_t s = 0; s < k; ++s) {
      const auto r = static_cast<std::size_t>(s * n + i);
      weight[r] = std::exp(log_w[r] - l) / static_cast<double>(n);
    }
  }
}
}  // namespace detail

// Training with the IWAE bound instead of the ELBO: wraps a model that has
// `double train_step_iwae(const tensor& x, std::int64_t k, generator& rng)` (models/vae.hpp) and offers the
// trainer's `train_step_loss(x, rng, step)`. The returned loss is mean_i −log(1/k Σ_s p(x_i, z_s)/q(z_s|x_i))
// (the Weighting and Divergence policies of the model are not used). k = 1 is the ELBO with a single-sample KL.
template <class Model>
class IWAEObjective {
 public:
  IWAEObjective(Model& model, std::int64_t k) : model_(&model), k_(k) {
    check(k > 0, [&] { return cat("IWAEObjective: k must be positive, got ", k); });
  }
  template <class Tensor>
  double train_step_loss(const Tensor& x, generator& rng, std::int64_t /*step*/) {
    return model_->train_step_iwae(x, k_, rng);
  }
  Model& model() { return *model_; }
  std::int64_t k() const { return k_; }

 private:
  Model* model_;
  std::int64_t k_;
};

}  // namespace vae
