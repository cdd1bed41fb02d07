// AnalyticGaussianKL: closed-form KL(q(z|x) ‖ p(z)) for a diagonal-Gaussian prior; other priors fail to compile.
#pragma once
#include <cmath>
#include <type_traits>

#include "vae/divergences/divergence.hpp"
#include "vae/priors/prior.hpp"

namespace vae {

template <class T, class B>
class MixtureOfGaussiansPrior;
template <class T, class B>
class VampPrior;

namespace detail {
template <class>
inline constexpr bool dependent_false = false;

// One static_assert naming the pair when AnalyticGaussianKL meets a prior without a closed form.
template <class P>
struct analytic_kl_prior_check {
  static_assert(GaussianPrior<P>,
                "AnalyticGaussianKL needs a Gaussian prior (StandardNormalPrior or LearnableGaussianPrior), got a "
                "non-Gaussian prior: use MonteCarloKL");
  static constexpr bool value = GaussianPrior<P>;
};
template <class T, class B>
struct analytic_kl_prior_check<MixtureOfGaussiansPrior<T, B>> {
  static_assert(dependent_false<T>,
                "AnalyticGaussianKL needs a Gaussian prior (StandardNormalPrior or LearnableGaussianPrior), got "
                "MixtureOfGaussiansPrior: use MonteCarloKL");
  static constexpr bool value = false;
};
template <class T, class B>
struct analytic_kl_prior_check<VampPrior<T, B>> {
  static_assert(dependent_false<T>,
                "AnalyticGaussianKL needs a Gaussian prior (StandardNormalPrior or LearnableGaussianPrior), got "
                "VampPrior: use MonteCarloKL");
  static constexpr bool value = false;
};
}  // namespace detail

// KL_ij = ½[lv_p − lv_q + (exp(lv_q) + (mu − m_p)²)/exp(lv_p) − 1]; for N(0, I): ½(mu² + σ² − log σ² − 1).
// Decomposes per dimension (per_dim = batch means, for FreeBits). Does not use z or eps.
struct AnalyticGaussianKL {
  static constexpr bool per_dimension = true;
  static constexpr bool is_kl = true;

  template <class Prior>
  static constexpr bool accepts() {
    return detail::analytic_kl_prior_check<std::remove_cvref_t<Prior>>::value;
  }

  template <class T, class B, class Prior>
  void forward(const tensor<T, B>& mu, const tensor<T, B>& logvar, const tensor<T, B>& z, const tensor<T, B>& eps,
               Prior& prior, generator&, divergence_stats& stats) const {
    if constexpr (accepts<Prior>()) {
      detail::check_posterior("AnalyticGaussianKL::forward", mu, logvar, z, eps);
      const std::int64_t n = mu.dim(0), d = mu.dim(1);
      prior.check_latent_dim(d);
      stats.per_row.assign(static_cast<std::size_t>(n), 0.0);
      stats.per_dim.assign(static_cast<std::size_t>(d), 0.0);
      for (std::int64_t j = 0; j < d; ++j) {
        const double mp = prior.gaussian_mean(j), lvp = prior.gaussian_log_var(j), inv = std::exp(-lvp);
        for (std::int64_t i = 0; i < n; ++i) {
          const double lv = logvar[i * d + j], diff = static_cast<double>(mu[i * d + j]) - mp;
          const double kl = 0.5 * (lvp - lv + (std::exp(lv) + diff * diff) * inv - 1.0);
          stats.per_row[static_cast<std::size_t>(i)] += kl;
          stats.per_dim[static_cast<std::size_t>(j)] += kl / static_cast<double>(n);
        }
      }
    }
  }

  template <class T, class B, class Prior>
  void backward(const tensor<T, B>& mu, const tensor<T, B>& logvar, const tensor<T, B>& z, const tensor<T, B>& eps,
                Prior& prior, const divergence_scale& scale, tensor<T, B>& dmu, tensor<T, B>& dlogvar,
                tensor<T, B>& dz) const {
    if constexpr (accepts<Prior>()) {
      detail::check_posterior("AnalyticGaussianKL::backward", mu, logvar, z, eps);
      detail::check_grads("AnalyticGaussianKL::backward", mu, dmu, dlogvar, dz, scale);
      const std::int64_t n = mu.dim(0), d = mu.dim(1);
      check(scale.dim.empty() || scale.dim.size() == static_cast<std::size_t>(d),
            [&] { return cat("AnalyticGaussianKL::backward: expected ", d, " dimension scales, got ", scale.dim.size()); });
      prior.check_latent_dim(d);
      for (std::int64_t j = 0; j < d; ++j) {
        const double mp = prior.gaussian_mean(j), lvp = prior.gaussian_log_var(j), inv = std::exp(-lvp);
        const double sd = scale.dim.empty() ? 1.0 : scale.dim[static_cast<std::size_t>(j)];
        double gmp = 0, glvp = 0;
        for (std::int64_t i = 0; i < n; ++i) {
          const double s = sd * scale.row[static_cast<std::size_t>(i)];
          const double lv = logvar[i * d + j], diff = static_cast<double>(mu[i * d + j]) - mp, vq = std::exp(lv);
          dmu[i * d + j] = static_cast<T>(dmu[i * d + j] + s * diff * inv);
          dlogvar[i * d + j] = static_cast<T>(dlogvar[i * d + j] + s * 0.5 * (vq * inv - 1.0));
          gmp -= s * diff * inv;
          glvp += s * 0.5 * (1.0 - (vq + diff * diff) * inv);
        }
        prior.add_gaussian_grad(j, gmp, glvp);
      }
    }
  }
};

}  // namespace vae
