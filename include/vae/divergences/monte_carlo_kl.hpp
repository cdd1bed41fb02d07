// MonteCarloKL: single-sample KL estimate log q(z|x) − log p(z) at the sampled z; works with every prior.
#pragma once
#include <vector>

#include "vae/distributions/gaussian.hpp"
#include "vae/divergences/divergence.hpp"
#include "vae/core/memory_space.hpp"

namespace vae {

// log q(z|x) is evaluated in eps (Σ −½(eps² + logvar + log 2π)), so its gradient is −½ in logvar and the prior
// term's gradient flows pathwise through z (the model chains dz into mu and logvar). Does not decompose per
// dimension (the prior need not factorise).
struct MonteCarloKL {
  static constexpr bool per_dimension = false;
  static constexpr bool is_kl = true;
  template <class Prior>
  static constexpr bool accepts() { return true; }  // any prior with log_prob and its gradient

  template <class T, class B, class Prior>
  void forward(const tensor<T, B>& mu, const tensor<T, B>& logvar, const tensor<T, B>& z, const tensor<T, B>& eps,
               Prior& prior, generator&, divergence_stats& stats) {
    static_assert(HostBackend<B>, "MonteCarloKL: host backends only for now");
    detail::check_posterior("MonteCarloKL::forward", mu, logvar, z, eps);
    const auto n = static_cast<std::size_t>(mu.dim(0));
    stats.per_row.resize(n);
    stats.per_dim.clear();
    logp_.resize(n);
    dist::posterior_log_prob(logvar, eps, stats.per_row);
    prior.log_prob(z, logp_);
    for (std::size_t i = 0; i < n; ++i) stats.per_row[i] -= logp_[i];
  }

  template <class T, class B, class Prior>
  void backward(const tensor<T, B>& mu, const tensor<T, B>& logvar, const tensor<T, B>& z, const tensor<T, B>& eps,
                Prior& prior, const divergence_scale& scale, tensor<T, B>& dmu, tensor<T, B>& dlogvar,
                tensor<T, B>& dz) {
    static_assert(HostBackend<B>, "MonteCarloKL: host backends only for now");
    detail::check_posterior("MonteCarloKL::backward", mu, logvar, z, eps);
    detail::check_grads("MonteCarloKL::backward", mu, dmu, dlogvar, dz, scale);
    check(scale.dim.empty(), "MonteCarloKL::backward: does not decompose per dimension (no dimension scales)");
    const std::int64_t n = mu.dim(0), d = mu.dim(1);
    neg_.resize(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      const double s = scale.row[static_cast<std::size_t>(i)];
      neg_[static_cast<std::size_t>(i)] = -s;
      for (std::int64_t j = 0; j < d; ++j) dlogvar[i * d + j] = static_cast<T>(dlogvar[i * d + j] - 0.5 * s);
    }
    prior.backward(z, neg_, dz);
  }

 private:
  std::vector<double> logp_, neg_;
};

}  // namespace vae
