// cpu kernels of the Gaussian-latent ops: plain host loops in the op's scalar type, rows in order (the reference order).
#pragma once
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/core/rng.hpp"
#include "vae/ops/gaussian_latent.hpp"

namespace vae {

template <>
struct kernel<posterior_split_op, cpu> {
  template <class T>
  static void split(std::int64_t n, std::int64_t d, const T* h, T* mu, T* logvar) {
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < d; ++j) {
        mu[i * d + j] = h[i * 2 * d + j];
        logvar[i * d + j] = h[i * 2 * d + d + j];
      }
  }
  template <class T>
  static void join(std::int64_t n, std::int64_t d, const T* dmu, const T* dlogvar, T* dh) {
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < d; ++j) {
        dh[i * 2 * d + j] = dmu[i * d + j];
        dh[i * 2 * d + d + j] = dlogvar[i * d + j];
      }
  }
};

template <>
struct kernel<reparameterize_op, cpu> {
  // z = mu + exp(½ logvar)·eps for a given eps (also dist::reparameterize, which IWAE uses with its own draws).
  template <class T>
  static void combine(std::int64_t n, const T* mu, const T* logvar, const T* eps, T* z) {
    for (std::int64_t i = 0; i < n; ++i) z[i] = static_cast<T>(mu[i] + std::exp(0.5 * static_cast<double>(logvar[i])) * eps[i]);
  }
  // eps = the next n draws of rng (exactly rng.fill_normal's values: draw i is a pure function of its counter, so
  // chunks run in parallel), then z.
  template <class T>
  static void forward(generator& rng, std::int64_t n, const T* mu, const T* logvar, T* eps, T* z) {
    const std::uint64_t seed = rng.seed(), first = rng.reserve(static_cast<std::uint64_t>(n));
    constexpr std::int64_t chunk = 1024;
    parallel_for((n + chunk - 1) / chunk, 64 * n, [&](std::int64_t c) {
      const std::int64_t b = c * chunk, e = std::min(n, b + chunk);
      for (std::int64_t i = b; i < e; ++i) eps[i] = static_cast<T>(counter_normal(seed, first, static_cast<std::uint64_t>(i)));
      combine(e - b, mu + b, logvar + b, eps + b, z + b);
    });
  }
  template <class T>
  static void backward(std::int64_t n, const T* logvar, const T* eps, const T* dz, T* dmu, T* dlogvar) {
    for (std::int64_t i = 0; i < n; ++i) {
      dmu[i] = static_cast<T>(dmu[i] + dz[i]);
      dlogvar[i] = static_cast<T>(dlogvar[i] + dz[i] * eps[i] * 0.5 * std::exp(0.5 * static_cast<double>(logvar[i])));
    }
  }
};

template <>
struct kernel<normal_fill_op, cpu> {
  template <class T>
  static void run(generator& rng, T* out, std::int64_t n) {
    rng.fill_normal(out, n);
  }
};

namespace cpu_detail {
// exp(logvar) of one row of the posterior in double, `kl_chunk` dimensions at a time through Eigen's packet exp (4096
// scalar libm calls per 128 × 32 batch were most of the KL's time); e[j] for j < len.
inline constexpr std::int64_t kl_chunk = 64;
template <class T>
void exp_in_double(const T* logvar, std::int64_t len, double* e) {
  using in_map = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
  Eigen::Map<Eigen::ArrayXd>(e, len) = in_map(logvar, len).template cast<double>().exp();
}
}  // namespace cpu_detail

template <>
struct kernel<gaussian_kl_op, cpu> {
  // Chunks of dimensions outer, rows inside (each row's exp over the chunk vectorised); every sum still adds its terms
  // in the order of the column-at-a-time loop (per_row[i] over j = 0, 1, …; per_dim[j] over i = 0, 1, …).
  template <class T>
  static void forward(std::int64_t n, std::int64_t d, const T* mu, const T* logvar, const double* prior_mean,
                      const double* prior_logvar, double* per_row, double* per_dim) {
    for (std::int64_t i = 0; i < n; ++i) per_row[i] = 0.0;
    for (std::int64_t j = 0; j < d; ++j) per_dim[j] = 0.0;
    double ev[cpu_detail::kl_chunk], inv[cpu_detail::kl_chunk];
    for (std::int64_t j0 = 0; j0 < d; j0 += cpu_detail::kl_chunk) {
      const std::int64_t len = std::min(cpu_detail::kl_chunk, d - j0);
      for (std::int64_t jj = 0; jj < len; ++jj) inv[jj] = prior_logvar ? std::exp(-prior_logvar[j0 + jj]) : 1.0;
      for (std::int64_t i = 0; i < n; ++i) {
        cpu_detail::exp_in_double(logvar + i * d + j0, len, ev);
        for (std::int64_t jj = 0; jj < len; ++jj) {
          const std::int64_t j = j0 + jj;
          const double mp = prior_mean ? prior_mean[j] : 0.0, lvp = prior_logvar ? prior_logvar[j] : 0.0;
          const double lv = logvar[i * d + j], diff = static_cast<double>(mu[i * d + j]) - mp;
          const double kl = 0.5 * (lvp - lv + (ev[jj] + diff * diff) * inv[jj] - 1.0);
          per_row[i] += kl;
          per_dim[j] += kl / static_cast<double>(n);
        }
      }
    }
  }
  template <class T>
  static void backward(std::int64_t n, std::int64_t d, const T* mu, const T* logvar, const double* prior_mean,
                       const double* prior_logvar, const double* row_scale, const double* dim_scale, T* dmu,
                       T* dlogvar, double* g_mean, double* g_logvar) {
    if (g_mean) std::fill(g_mean, g_mean + d, 0.0);
    if (g_logvar) std::fill(g_logvar, g_logvar + d, 0.0);
    double ev[cpu_detail::kl_chunk], invs[cpu_detail::kl_chunk];
    for (std::int64_t j0 = 0; j0 < d; j0 += cpu_detail::kl_chunk) {
      const std::int64_t len = std::min(cpu_detail::kl_chunk, d - j0);
      for (std::int64_t jj = 0; jj < len; ++jj) invs[jj] = prior_logvar ? std::exp(-prior_logvar[j0 + jj]) : 1.0;
      for (std::int64_t i = 0; i < n; ++i) {
        cpu_detail::exp_in_double(logvar + i * d + j0, len, ev);
        for (std::int64_t jj = 0; jj < len; ++jj) {
          const std::int64_t j = j0 + jj;
          const double mp = prior_mean ? prior_mean[j] : 0.0, inv = invs[jj];
          const double s = (dim_scale ? dim_scale[j] : 1.0) * row_scale[i];
          const double diff = static_cast<double>(mu[i * d + j]) - mp, vq = ev[jj];
          dmu[i * d + j] = static_cast<T>(dmu[i * d + j] + s * diff * inv);
          dlogvar[i * d + j] = static_cast<T>(dlogvar[i * d + j] + s * 0.5 * (vq * inv - 1.0));
          if (g_mean) g_mean[j] -= s * diff * inv;
          if (g_logvar) g_logvar[j] += s * 0.5 * (1.0 - (vq + diff * diff) * inv);
        }
      }
    }
  }
};

}  // namespace vae
