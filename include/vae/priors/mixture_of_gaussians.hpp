// MixtureOfGaussiansPrior: p(z) = Σ_k π_k N(z | m_k, diag(exp(lv_k))), learned "means" [K, D], "log_vars" [K, D], "logits" [K].
#pragma once
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "vae/distributions/gaussian.hpp"
#include "vae/core/memory_space.hpp"
#include "vae/priors/prior.hpp"

namespace vae {

namespace detail {
// A diagonal-Gaussian mixture over rows of z [N, D] with K components given by raw arrays (means, log-variances
// [K, D], log-weights [K]); log-sum-exp over components in double.
struct diag_mixture {
  std::int64_t k, d;
  // log p(z_i) for every row; `resp` (optional, [N, K]) receives the responsibilities r_ik.
  template <class T, class B, class P>
  static void log_prob(std::int64_t k, std::int64_t d, const P* means, const P* log_vars, const double* log_w,
                       const tensor<T, B>& z, std::span<double> per_row, std::vector<double>* resp) {
    const std::int64_t n = z.dim(0);
    std::vector<double> comp(static_cast<std::size_t>(k));
    if (resp) resp->assign(static_cast<std::size_t>(n * k), 0.0);
    for (std::int64_t i = 0; i < n; ++i) {
      dist::running_logsumexp lse;
      for (std::int64_t c = 0; c < k; ++c) {
        double s = log_w[c];
        for (std::int64_t j = 0; j < d; ++j) s += dist::normal_log_density(z[i * d + j], means[c * d + j], log_vars[c * d + j]);
        comp[static_cast<std::size_t>(c)] = s;
        lse.add(s);
      }
      const double lp = lse.value();
      per_row[static_cast<std::size_t>(i)] = lp;
      if (resp)
        for (std::int64_t c = 0; c < k; ++c) (*resp)[static_cast<std::size_t>(i * k + c)] = std::exp(comp[static_cast<std::size_t>(c)] - lp);
    }
  }
  // ADDS d(Σ w_i log p(z_i)) into dz, d_means, d_log_vars [K, D] (nullable) and d_log_w [K] (the gradient in the
  // log-weights, nullable), given the responsibilities from log_prob.
  template <class T, class B, class P, class G>
  static void backward(std::int64_t k, std::int64_t d, const P* means, const P* log_vars, const tensor<T, B>& z,
                       std::span<const double> row_weight, const std::vector<double>& resp, tensor<T, B>& dz,
                       G* d_means, G* d_log_vars, double* d_log_w) {
    const std::int64_t n = z.dim(0);
    for (std::int64_t i = 0; i < n; ++i) {
      const double w = row_weight[static_cast<std::size_t>(i)];
      if (w == 0) continue;
      for (std::int64_t c = 0; c < k; ++c) {
        const double r = w * resp[static_cast<std::size_t>(i * k + c)];
        if (d_log_w) d_log_w[c] += r;
        for (std::int64_t j = 0; j < d; ++j) {
          const double diff = z[i * d + j] - static_cast<double>(means[c * d + j]);
          const double inv = std::exp(-static_cast<double>(log_vars[c * d + j])), u = diff * inv;
          dz[i * d + j] = static_cast<T>(dz[i * d + j] - r * u);
          if (d_means) d_means[c * d + j] = static_cast<G>(d_means[c * d + j] + r * u);
          if (d_log_vars) d_log_vars[c * d + j] = static_cast<G>(d_log_vars[c * d + j] + r * 0.5 * (diff * u - 1.0));
        }
      }
    }
  }
};
}  // namespace detail

template <class T = float, class B = cpu>
class MixtureOfGaussiansPrior {
  static_assert(HostBackend<B>, "MixtureOfGaussiansPrior: host backends only for now");

 public:
  using value_type = T;
  // Means start N(0, 1) (distinct components), log-variances 0, logits 0 (uniform weights).
  MixtureOfGaussiansPrior(std::int64_t components, std::int64_t latent) : k_(components), d_(latent) {
    check(components > 0 && latent > 0,
          [&] { return cat("MixtureOfGaussiansPrior: sizes must be positive, got K=", components, " D=", latent); });
    means_.shape = {k_, d_};
    means_.init = parameter_init::normal(0.0, 1.0);
    log_vars_.shape = {k_, d_};
    logits_.shape = {k_};
  }
  void log_prob(const tensor<T, B>& z, std::span<double> per_row) {
    check_z("MixtureOfGaussiansPrior::log_prob", z, per_row.size());
    detail::diag_mixture::log_prob(k_, d_, means_.value, log_vars_.value, log_weights().data(), z, per_row, nullptr);
  }
  void backward(const tensor<T, B>& z, std::span<const double> row_weight, tensor<T, B>& dz) {
    check_z("MixtureOfGaussiansPrior::backward", z, row_weight.size());
    check_shape(dz.shape(), z.shape(), "MixtureOfGaussiansPrior::backward: dz");
    const auto lw = log_weights();
    std::vector<double> per_row(static_cast<std::size_t>(z.dim(0))), resp, dlw(static_cast<std::size_t>(k_), 0.0);
    detail::diag_mixture::log_prob(k_, d_, means_.value, log_vars_.value, lw.data(), z, per_row, &resp);
    detail::diag_mixture::backward(k_, d_, means_.value, log_vars_.value, z, row_weight, resp, dz, means_.grad_to_add(),
                                   log_vars_.grad_to_add(), dlw.data());
    // log π = log_softmax(logits): d/dlogit_c = dlw_c − π_c Σ dlw.
    double total = 0;
    for (auto v : dlw) total += v;
    if (T* g = logits_.grad_to_add())
      for (std::int64_t c = 0; c < k_; ++c)
        g[c] = static_cast<T>(g[c] + dlw[static_cast<std::size_t>(c)] - std::exp(lw[static_cast<std::size_t>(c)]) * total);
  }
  void sample(tensor<T, B>& z, generator& rng) const {
    check(z.rank() == 2 && z.dim(1) == d_,
          [&] { return cat("MixtureOfGaussiansPrior::sample: expected [N, ", d_, "], got ", z.shape()); });
    const auto lw = log_weights();
    for (std::int64_t i = 0; i < z.dim(0); ++i) {
      double u = rng.uniform(), acc = 0;
      std::int64_t c = 0;
      for (; c < k_ - 1; ++c) {
        acc += std::exp(lw[static_cast<std::size_t>(c)]);
        if (u <= acc) break;
      }
      for (std::int64_t j = 0; j < d_; ++j)
        z[i * d_ + j] = static_cast<T>(means_.value[c * d_ + j] + std::exp(0.5 * log_vars_.value[c * d_ + j]) * rng.normal());
    }
  }
  template <class V>
  void visit_parameters(const std::string& prefix, V&& visit) {
    visit(prefix + "means", means_);
    visit(prefix + "log_vars", log_vars_);
    visit(prefix + "logits", logits_);
  }
  parameter<T>& means() { return means_; }
  parameter<T>& log_vars() { return log_vars_; }
  parameter<T>& logits() { return logits_; }

 private:
  std::vector<double> log_weights() const {
    dist::running_logsumexp lse;
    for (std::int64_t c = 0; c < k_; ++c) lse.add(logits_.value[c]);
    std::vector<double> lw(static_cast<std::size_t>(k_));
    for (std::int64_t c = 0; c < k_; ++c) lw[static_cast<std::size_t>(c)] = logits_.value[c] - lse.value();
    return lw;
  }
  void check_z(const char* who, const tensor<T, B>& z, std::size_t rows) const {
    check(means_.bound(), "MixtureOfGaussiansPrior: parameters are not attached to a parameter_store");
    detail::check_latents(who, z, rows);
    check(z.dim(1) == d_, [&] { return cat(who, ": built for latent size ", d_, ", got latents ", z.shape()); });
  }
  std::int64_t k_, d_;
  parameter<T> means_, log_vars_, logits_;
};

}  // namespace vae
