// LearnableGaussianPrior: p(z) = N(mean, diag(exp(log_var))) with learned "mean" and "log_var" [D] (init 0).
#pragma once
#include <cmath>
#include <span>
#include <string>

#include "vae/distributions/gaussian.hpp"
#include "vae/core/memory_space.hpp"
#include "vae/priors/prior.hpp"

namespace vae {

template <class T = float, class B = cpu>
class LearnableGaussianPrior {
  static_assert(HostBackend<B>, "LearnableGaussianPrior: host backends only for now");

 public:
  using value_type = T;
  explicit LearnableGaussianPrior(std::int64_t latent) : d_(latent) {
    check(latent > 0, [&] { return cat("LearnableGaussianPrior: latent size must be positive, got ", latent); });
    mean_.shape = {latent};
    log_var_.shape = {latent};
  }
  void log_prob(const tensor<T, B>& z, std::span<double> per_row) const {
    check_z("LearnableGaussianPrior::log_prob", z, per_row.size());
    for (std::int64_t i = 0; i < z.dim(0); ++i) {
      double s = 0;
      for (std::int64_t j = 0; j < d_; ++j) s += dist::normal_log_density(z[i * d_ + j], mean_.value[j], log_var_.value[j]);
      per_row[static_cast<std::size_t>(i)] = s;
    }
  }
  void backward(const tensor<T, B>& z, std::span<const double> row_weight, tensor<T, B>& dz) {
    check_z("LearnableGaussianPrior::backward", z, row_weight.size());
    check_shape(dz.shape(), z.shape(), "LearnableGaussianPrior::backward: dz");
    for (std::int64_t j = 0; j < d_; ++j) {
      const double m = mean_.value[j], inv = std::exp(-static_cast<double>(log_var_.value[j]));
      double gm = 0, glv = 0;
      for (std::int64_t i = 0; i < z.dim(0); ++i) {
        const double w = row_weight[static_cast<std::size_t>(i)], u = (z[i * d_ + j] - m) * inv;
        dz[i * d_ + j] = static_cast<T>(dz[i * d_ + j] - w * u);
        gm += w * u;
        glv += w * 0.5 * ((z[i * d_ + j] - m) * u - 1.0);
      }
      add_gaussian_grad(j, gm, glv);
    }
  }
  void sample(tensor<T, B>& z, generator& rng) const {
    check(z.rank() == 2 && z.dim(1) == d_, [&] { return cat("LearnableGaussianPrior::sample: expected [N, ", d_, "], got ", z.shape()); });
    rng.fill_normal(z.data(), z.numel());
    for (std::int64_t i = 0; i < z.numel(); ++i) {
      const auto j = i % d_;
      z[i] = static_cast<T>(mean_.value[j] + std::exp(0.5 * log_var_.value[j]) * z[i]);
    }
  }
  template <class V>
  void visit_parameters(const std::string& prefix, V&& visit) {
    visit(prefix + "mean", mean_);
    visit(prefix + "log_var", log_var_);
  }

  double gaussian_mean(std::int64_t j) const { return mean_.value[j]; }
  double gaussian_log_var(std::int64_t j) const { return log_var_.value[j]; }
  void add_gaussian_grad(std::int64_t j, double dmean, double dlog_var) {
    if (T* g = mean_.grad_to_add()) g[j] = static_cast<T>(g[j] + dmean);
    if (T* g = log_var_.grad_to_add()) g[j] = static_cast<T>(g[j] + dlog_var);
  }
  void check_latent_dim(std::int64_t d) const {
    check(mean_.bound(), "LearnableGaussianPrior: parameters are not attached to a parameter_store");
    check(d == d_, [&] { return cat("LearnableGaussianPrior: built for latent size ", d_, ", got latents of size ", d); });
  }
  parameter<T>& mean() { return mean_; }
  parameter<T>& log_var() { return log_var_; }

 private:
  void check_z(const char* who, const tensor<T, B>& z, std::size_t rows) const {
    detail::check_latents(who, z, rows);
    check_latent_dim(z.dim(1));
  }
  std::int64_t d_;
  parameter<T> mean_, log_var_;
};

}  // namespace vae
