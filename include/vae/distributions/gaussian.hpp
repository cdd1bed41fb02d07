// Diagonal-Gaussian and log-space helpers shared by the VAE policies (double accumulation; the tensor forms of
// split/join/reparameterize run on any backend through ops/gaussian_latent.hpp, the rest index host tensors).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <span>

#include "vae/core/error.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"
#include "vae/ops/gaussian_latent.hpp"
#include "vae/core/memory_space.hpp"

namespace vae::dist {

inline constexpr double log_2pi = 1.8378770664093454835606594728112;  // log(2π)

// log N(x | mean, exp(log_var)) of one coordinate.
inline double normal_log_density(double x, double mean, double log_var) {
  const double d = x - mean;
  return -0.5 * (log_2pi + log_var + d * d * std::exp(-log_var));
}

// Stable log(1 + exp(x)).
inline double softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))); }
// σ(x) without overflow.
inline double sigmoid(double x) {
  const double e = std::exp(-std::abs(x));
  return x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

// Running log-sum-exp: add(v) folds one term in; value() = log Σ exp(v).
struct running_logsumexp {
  double max = -std::numeric_limits<double>::infinity();
  double sum = 0.0;  // Σ exp(v − max)
  void add(double v) {
    if (v == -std::numeric_limits<double>::infinity()) return;
    if (v > max) {
      sum = sum * std::exp(max - v) + 1.0;
      max = v;
    } else {
      sum += std::exp(v - max);
    }
  }
  double value() const { return max + std::log(sum); }
};

// Splits an encoder output h [N, 2D] into mu = h[:, :D] and logvar = h[:, D:] (torch.chunk(2, dim=1)).
template <class T, class B>
void split_posterior(const tensor<T, B>& h, tensor<T, B>& mu, tensor<T, B>& logvar) {
  check(h.rank() == 2 && h.dim(1) % 2 == 0 && h.dim(1) > 0,
        [&] { return cat("split_posterior: expected encoder output [N, 2·latent], got ", h.shape()); });
  const std::int64_t n = h.dim(0), d = h.dim(1) / 2;
  mu.resize({n, d});
  logvar.resize({n, d});
  ops::split_posterior<B>(n, d, h.data(), mu.data(), logvar.data());
}

// Joins (dmu, dlogvar) [N, D] into dh [N, 2D] (the inverse of split_posterior).
template <class T, class B>
void join_posterior(const tensor<T, B>& dmu, const tensor<T, B>& dlogvar, tensor<T, B>& dh) {
  const std::int64_t n = dmu.dim(0), d = dmu.dim(1);
  dh.resize({n, 2 * d});
  ops::join_posterior<B>(n, d, dmu.data(), dlogvar.data(), dh.data());
}

// z = mu + exp(logvar / 2) · eps for a given eps (host tensors: IWAE draws its own eps).
template <class T, class B>
void reparameterize(const tensor<T, B>& mu, const tensor<T, B>& logvar, const tensor<T, B>& eps, tensor<T, B>& z) {
  static_assert(HostBackend<B>, "dist::reparameterize with a given eps: host backends only for now (use draw_reparameterized)");
  check_shape(logvar.shape(), mu.shape(), "reparameterize: logvar");
  check_shape(eps.shape(), mu.shape(), "reparameterize: eps");
  z.resize(mu.shape());
  kernel<reparameterize_op, cpu>::combine(mu.numel(), mu.data(), logvar.data(), eps.data(), z.data());
}

// eps ~ N(0, I) (mu.numel() draws from rng, as rng.fill_normal) and z = mu + exp(logvar / 2) · eps, on any backend.
template <class T, class B>
void draw_reparameterized(const tensor<T, B>& mu, const tensor<T, B>& logvar, generator& rng, tensor<T, B>& eps,
                          tensor<T, B>& z) {
  check_shape(logvar.shape(), mu.shape(), "draw_reparameterized: logvar");
  eps.resize(mu.shape());
  z.resize(mu.shape());
  ops::reparameterize<B>(rng, mu.numel(), mu.data(), logvar.data(), eps.data(), z.data());
}

// Pathwise chain rule of the reparameterisation: dmu += dz, dlogvar += dz · eps · exp(logvar/2) / 2.
template <class T, class B>
void reparameterize_backward(const tensor<T, B>& logvar, const tensor<T, B>& eps, const tensor<T, B>& dz,
                             tensor<T, B>& dmu, tensor<T, B>& dlogvar) {
  ops::reparameterize_backward<B>(dz.numel(), logvar.data(), eps.data(), dz.data(), dmu.data(), dlogvar.data());
}

// log q(z|x) per row for z = mu + σ·eps, written in eps: Σ_j −½(eps² + logvar + log 2π).
template <class T, class B>
void posterior_log_prob(const tensor<T, B>& logvar, const tensor<T, B>& eps, std::span<double> per_row) {
  static_assert(HostBackend<B>, "dist::posterior_log_prob (MonteCarloKL, IWAE): host backends only for now");
  const std::int64_t n = logvar.dim(0), d = logvar.dim(1);
  for (std::int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (std::int64_t j = 0; j < d; ++j) {
      const double e = eps[i * d + j];
      s += -0.5 * (e * e + static_cast<double>(logvar[i * d + j]) + log_2pi);
    }
    per_row[static_cast<std::size_t>(i)] = s;
  }
}

}  // namespace vae::dist
