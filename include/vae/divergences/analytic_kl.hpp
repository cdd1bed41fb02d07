// AnalyticGaussianKL: closed-form KL(q(z|x) ‖ p(z)) for a diagonal-Gaussian prior; other priors fail to compile.
#pragma once
#include <cmath>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "vae/divergences/divergence.hpp"
#include "vae/ops/gaussian_latent.hpp"
#include "vae/core/memory_space.hpp"
#include "vae/priors/prior.hpp"

namespace vae {

struct StandardNormalPrior;
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
// Decomposes per dimension (per_dim = batch means, for FreeBits). Does not use z or eps. The element loops are the
// gaussian_kl_op kernels (ops/gaussian_latent.hpp): forward_rows / backward_rows keep their values in B's memory;
// forward / backward (the Divergence concept's host statistics and scales) stage them through a buffer in B's memory,
// the same code on every backend. On a device backend the prior must be StandardNormalPrior (LearnableGaussianPrior
// is host-only for now).
struct AnalyticGaussianKL {
  static constexpr bool per_dimension = true;
  static constexpr bool is_kl = true;

  template <class Prior>
  static constexpr bool accepts() {
    return detail::analytic_kl_prior_check<std::remove_cvref_t<Prior>>::value;
  }

  // per_row [N] and per_dim [D] in B's memory: WRITTEN with Σ_j KL_ij and (1/N) Σ_i KL_ij.
  template <class T, class B, class Prior>
  void forward_rows(const tensor<T, B>& mu, const tensor<T, B>& logvar, Prior& prior, std::span<double> per_row,
                    std::span<double> per_dim) const {
    if constexpr (accepts<Prior>()) {
      check(mu.rank() == 2 && mu.dim(0) > 0 && mu.dim(1) > 0,
            [&] { return cat("AnalyticGaussianKL::forward: expected mu [N, D], got ", mu.shape()); });
      check_shape(logvar.shape(), mu.shape(), "AnalyticGaussianKL::forward: logvar");
      const std::int64_t n = mu.dim(0), d = mu.dim(1);
      check(per_row.size() == static_cast<std::size_t>(n) && per_dim.size() == static_cast<std::size_t>(d), [&] {
        return cat("AnalyticGaussianKL::forward: expected ", n, " row and ", d, " dimension slots, got ", per_row.size(),
                   " and ", per_dim.size());
      });
      prior.check_latent_dim(d);
      const prior_arrays<B, Prior> p(prior, d);
      ops::gaussian_kl<B>(n, d, mu.data(), logvar.data(), p.mean(), p.log_var(), per_row.data(), per_dim.data());
    }
  }

  // row_scale [N] and dim_scale [D or empty = 1] in B's memory: ADDS the gradient of Σ_ij row_i·dim_j·KL_ij into
  // dmu, dlogvar and the prior's parameters.
  template <class T, class B, class Prior>
  void backward_rows(const tensor<T, B>& mu, const tensor<T, B>& logvar, Prior& prior,
                     std::span<const double> row_scale, std::span<const double> dim_scale, tensor<T, B>& dmu,
                     tensor<T, B>& dlogvar) const {
    if constexpr (accepts<Prior>()) {
      const std::int64_t n = mu.dim(0), d = mu.dim(1);
      check_shape(dmu.shape(), mu.shape(), "AnalyticGaussianKL::backward: dmu");
      check_shape(dlogvar.shape(), mu.shape(), "AnalyticGaussianKL::backward: dlogvar");
      check(row_scale.size() == static_cast<std::size_t>(n),
            [&] { return cat("AnalyticGaussianKL::backward: expected ", n, " row scales, got ", row_scale.size()); });
      check(dim_scale.empty() || dim_scale.size() == static_cast<std::size_t>(d),
            [&] { return cat("AnalyticGaussianKL::backward: expected ", d, " dimension scales, got ", dim_scale.size()); });
      prior.check_latent_dim(d);
      const prior_arrays<B, Prior> p(prior, d);
      std::vector<double> g_mean, g_log_var;
      if constexpr (prior_arrays<B, Prior>::has_gradient) {
        g_mean.resize(static_cast<std::size_t>(d));
        g_log_var.resize(static_cast<std::size_t>(d));
      }
      ops::gaussian_kl_backward<B>(n, d, mu.data(), logvar.data(), p.mean(), p.log_var(), row_scale.data(),
                                   dim_scale.empty() ? nullptr : dim_scale.data(), dmu.data(), dlogvar.data(),
                                   g_mean.empty() ? nullptr : g_mean.data(), g_log_var.empty() ? nullptr : g_log_var.data());
      if constexpr (prior_arrays<B, Prior>::has_gradient)
        for (std::int64_t j = 0; j < d; ++j)
          prior.add_gaussian_grad(j, g_mean[static_cast<std::size_t>(j)], g_log_var[static_cast<std::size_t>(j)]);
    }
  }

  // Host statistics on every backend: the values are computed in B's memory and copied back.
  template <class T, class B, class Prior>
  void forward(const tensor<T, B>& mu, const tensor<T, B>& logvar, const tensor<T, B>& z, const tensor<T, B>& eps,
               Prior& prior, generator&, divergence_stats& stats) const {
    if constexpr (accepts<Prior>()) {
      detail::check_posterior("AnalyticGaussianKL::forward", mu, logvar, z, eps);
      const auto n = static_cast<std::size_t>(mu.dim(0)), d = static_cast<std::size_t>(mu.dim(1));
      stats.per_row.resize(n);
      stats.per_dim.resize(d);
      tensor<double, B> buf(shape{static_cast<std::int64_t>(n + d)});
      forward_rows(mu, logvar, prior, std::span<double>(buf.data(), n), std::span<double>(buf.data() + n, d));
      B::copy_to_host(stats.per_row.data(), buf.data(), n);
      B::copy_to_host(stats.per_dim.data(), buf.data() + n, d);
    }
  }

  template <class T, class B, class Prior>
  void backward(const tensor<T, B>& mu, const tensor<T, B>& logvar, const tensor<T, B>& z, const tensor<T, B>& eps,
                Prior& prior, const divergence_scale& scale, tensor<T, B>& dmu, tensor<T, B>& dlogvar,
                tensor<T, B>& dz) const {
    if constexpr (accepts<Prior>()) {
      detail::check_posterior("AnalyticGaussianKL::backward", mu, logvar, z, eps);
      detail::check_grads("AnalyticGaussianKL::backward", mu, dmu, dlogvar, dz, scale);
      const auto n = scale.row.size(), nd = scale.dim.size();
      tensor<double, B> buf(shape{static_cast<std::int64_t>(n + nd)});
      B::copy_from_host(buf.data(), scale.row.data(), n);
      B::copy_from_host(buf.data() + n, scale.dim.data(), nd);
      backward_rows(mu, logvar, prior, std::span<const double>(buf.data(), n),
                    std::span<const double>(buf.data() + n, nd), dmu, dlogvar);
    }
  }

 private:
  // The prior's (m_j, lv_j) as double arrays for the kernel: null for StandardNormalPrior (the kernels' N(0, I)),
  // host copies of gaussian_mean / gaussian_log_var otherwise (host backends only).
  template <class B, class Prior>
  struct prior_arrays {
    static constexpr bool standard = std::same_as<std::remove_cvref_t<Prior>, StandardNormalPrior>;
    static constexpr bool has_gradient = !standard;
    static_assert(standard || HostBackend<B>,
                  "AnalyticGaussianKL: on a device backend only StandardNormalPrior for now (LearnableGaussianPrior: "
                  "host backends only for now)");
    std::vector<double> m, lv;
    prior_arrays(const Prior& prior, std::int64_t d) {
      if constexpr (!standard) {
        m.resize(static_cast<std::size_t>(d));
        lv.resize(static_cast<std::size_t>(d));
        for (std::int64_t j = 0; j < d; ++j) {
          m[static_cast<std::size_t>(j)] = prior.gaussian_mean(j);
          lv[static_cast<std::size_t>(j)] = prior.gaussian_log_var(j);
        }
      }
    }
    const double* mean() const { return m.empty() ? nullptr : m.data(); }
    const double* log_var() const { return lv.empty() ? nullptr : lv.data(); }
  };
};

}  // namespace vae
