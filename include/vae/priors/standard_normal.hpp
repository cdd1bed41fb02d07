// StandardNormalPrior: p(z) = N(0, I). sample runs on any backend (ops::fill_normal); log_prob/backward index host tensors.
#pragma once
#include <span>
#include <string>

#include "vae/distributions/gaussian.hpp"
#include "vae/ops/gaussian_latent.hpp"
#include "vae/core/memory_space.hpp"
#include "vae/priors/prior.hpp"

namespace vae {

struct StandardNormalPrior {
  template <class T, class B>
  void log_prob(const tensor<T, B>& z, std::span<double> per_row) const {
    static_assert(HostBackend<B>, "StandardNormalPrior::log_prob (MonteCarloKL, MMD, IWAE): host backends only for now");
    detail::check_latents("StandardNormalPrior::log_prob", z, per_row.size());
    const std::int64_t d = z.dim(1);
    for (std::int64_t i = 0; i < z.dim(0); ++i) {
      double s = 0;
      for (std::int64_t j = 0; j < d; ++j) {
        const double v = z[i * d + j];
        s += -0.5 * (v * v + dist::log_2pi);
      }
      per_row[static_cast<std::size_t>(i)] = s;
    }
  }
  template <class T, class B>
  void backward(const tensor<T, B>& z, std::span<const double> row_weight, tensor<T, B>& dz) const {
    static_assert(HostBackend<B>, "StandardNormalPrior::backward (MonteCarloKL, MMD, IWAE): host backends only for now");
    detail::check_latents("StandardNormalPrior::backward", z, row_weight.size());
    check_shape(dz.shape(), z.shape(), "StandardNormalPrior::backward: dz");
    const std::int64_t d = z.dim(1);
    for (std::int64_t i = 0; i < z.dim(0); ++i)
      for (std::int64_t j = 0; j < d; ++j)
        dz[i * d + j] = static_cast<T>(dz[i * d + j] - row_weight[static_cast<std::size_t>(i)] * z[i * d + j]);
  }
  template <class T, class B>
  void sample(tensor<T, B>& z, generator& rng) const {
    ops::fill_normal<B>(rng, z.data(), z.numel());
  }
  template <class V>
  void visit_parameters(const std::string&, V&&) {}

  double gaussian_mean(std::int64_t) const { return 0.0; }
  double gaussian_log_var(std::int64_t) const { return 0.0; }
  void add_gaussian_grad(std::int64_t, double, double) const {}
  void check_latent_dim(std::int64_t) const {}
};

}  // namespace vae
