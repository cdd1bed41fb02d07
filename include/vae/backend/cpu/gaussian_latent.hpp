// cpu kernels of the Gaussian-latent ops: the host loops the VAE policies used to run inline (same order, same types).
#pragma once
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

template <>
struct kernel<gaussian_kl_op, cpu> {
  template <class T>
  static void forward(std::int64_t n, std::int64_t d, const T* mu, const T* logvar, const double* prior_mean,
                      const double* prior_logvar, double* per_row, double* per_dim) {
    for (std::int64_t i = 0; i < n; ++i) per_row[i] = 0.0;
    for (std::int64_t j = 0; j < d; ++j) per_dim[j] = 0.0;
    for (std::int64_t j = 0; j < d; ++j) {
      const double mp = prior_mean ? prior_mean[j] : 0.0, lvp = prior_logvar ? prior_logvar[j] : 0.0, inv = std::exp(-lvp);
      for (std::int64_t i = 0; i < n; ++i) {
        const double lv = logvar[i * d + j], diff = static_cast<double>(mu[i * d + j]) - mp;
        const double kl = 0.5 * (lvp - lv + (std::exp(lv) + diff * diff) * inv - 1.0);
        per_row[i] += kl;
        per_dim[j] += kl / static_cast<double>(n);
      }
    }
  }
  template <class T>
  static void backward(std::int64_t n, std::int64_t d, const T* mu, const T* logvar, const double* prior_mean,
                       const double* prior_logvar, const double* row_scale, const double* dim_scale, T* dmu,
                       T* dlogvar, double* g_mean, double* g_logvar) {
    for (std::int64_t j = 0; j < d; ++j) {
      const double mp = prior_mean ? prior_mean[j] : 0.0, lvp = prior_logvar ? prior_logvar[j] : 0.0, inv = std::exp(-lvp);
      const double sd = dim_scale ? dim_scale[j] : 1.0;
      double gmp = 0, glvp = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        const double s = sd * row_scale[i];
        const double lv = logvar[i * d + j], diff = static_cast<double>(mu[i * d + j]) - mp, vq = std::exp(lv);
        dmu[i * d + j] = static_cast<T>(dmu[i * d + j] + s * diff * inv);
        dlogvar[i * d + j] = static_cast<T>(dlogvar[i * d + j] + s * 0.5 * (vq * inv - 1.0));
        gmp -= s * diff * inv;
        glvp += s * 0.5 * (1.0 - (vq + diff * diff) * inv);
      }
      if (g_mean) g_mean[j] = gmp;
      if (g_logvar) g_logvar[j] = glvp;
    }
  }
};

}  // namespace vae
