// cuda kernels of the Gaussian-latent ops: one thread per element (split/join, reparameterisation, KL gradient) or
// per row / per latent dimension (KL sums, same order as the cpu loops). eps comes from the cpu's Philox stream.
// Compiled by nvcc; emulated on the host by tests/cuda/emulation; run on a GPU only by tests/cuda/vae_step.cu.
#pragma once
#include <cmath>
#include <cstdint>

#include "vae/backend/cuda.hpp"
#include "vae/core/error.hpp"
#include "vae/core/rng.hpp"
#include "vae/ops/gaussian_latent.hpp"

namespace vae {

namespace cuda_detail {

// Thread e < n·2d walks h: column c < d goes to mu, the rest to logvar (join: the reverse copy).
template <class T>
__global__ void split_posterior_kernel(std::int64_t total, std::int64_t d, const T* h, T* mu, T* logvar) {
  const std::int64_t e = thread_index();
  if (e >= total) return;
  const std::int64_t i = e / (2 * d), c = e % (2 * d);
  if (c < d)
    mu[i * d + c] = h[e];
  else
    logvar[i * d + c - d] = h[e];
}
template <class T>
__global__ void join_posterior_kernel(std::int64_t total, std::int64_t d, const T* dmu, const T* dlogvar, T* dh) {
  const std::int64_t e = thread_index();
  if (e >= total) return;
  const std::int64_t i = e / (2 * d), c = e % (2 * d);
  dh[e] = c < d ? dmu[i * d + c] : dlogvar[i * d + c - d];
}

// eps[e] = T(counter_normal(seed, first, e)) (generator::fill_normal's draw); z[e] = mu + exp(½ logvar)·eps in double.
template <class T>
__global__ void reparameterize_draw_kernel(std::int64_t n, std::uint64_t seed, std::uint64_t first, const T* mu,
                                           const T* logvar, T* eps, T* z) {
  const std::int64_t e = thread_index();
  if (e >= n) return;
  const T draw = static_cast<T>(counter_normal(seed, first, static_cast<std::uint64_t>(e)));
  eps[e] = draw;
  z[e] = static_cast<T>(static_cast<double>(mu[e]) +
                        exp(0.5 * static_cast<double>(logvar[e])) * static_cast<double>(draw));
}

// As the cpu loop: dmu += dz (in T); dlogvar += (dz·eps in T)·½·exp(½ logvar) (in double).
template <class T>
__global__ void reparameterize_backward_kernel(std::int64_t n, const T* logvar, const T* eps, const T* dz, T* dmu,
                                               T* dlogvar) {
  const std::int64_t e = thread_index();
  if (e >= n) return;
  const T g = dz[e];
  dmu[e] = static_cast<T>(dmu[e] + g);
  dlogvar[e] = static_cast<T>(dlogvar[e] + static_cast<double>(g * eps[e]) * 0.5 * exp(0.5 * static_cast<double>(logvar[e])));
}

template <class T>
__global__ void standard_normal_kernel(std::int64_t n, std::uint64_t seed, std::uint64_t first, T* out) {
  const std::int64_t e = thread_index();
  if (e < n) out[e] = static_cast<T>(counter_normal(seed, first, static_cast<std::uint64_t>(e)));
}

// KL_ij against N(0, 1): ½(−lv + exp(lv) + mu² − 1), written as the cpu kernel's general form with m = lv_p = 0.
template <class T>
__device__ inline double standard_kl(const T* mu, const T* logvar, std::int64_t e) {
  const double lv = static_cast<double>(logvar[e]), diff = static_cast<double>(mu[e]);
  return 0.5 * (0.0 - lv + (exp(lv) + diff * diff) * 1.0 - 1.0);
}
// Thread i < n: per_row[i] = Σ_j KL_ij, j ascending (the cpu kernel's order).
template <class T>
__global__ void kl_rows_kernel(std::int64_t n, std::int64_t d, const T* mu, const T* logvar, double* per_row) {
  const std::int64_t i = thread_index();
  if (i >= n) return;
  double s = 0.0;
  for (std::int64_t j = 0; j < d; ++j) s += standard_kl(mu, logvar, i * d + j);
  per_row[i] = s;
}
// Thread j < d: per_dim[j] = Σ_i KL_ij / n, i ascending (the cpu kernel's order).
template <class T>
__global__ void kl_dims_kernel(std::int64_t n, std::int64_t d, const T* mu, const T* logvar, double* per_dim) {
  const std::int64_t j = thread_index();
  if (j >= d) return;
  double s = 0.0;
  for (std::int64_t i = 0; i < n; ++i) s += standard_kl(mu, logvar, i * d + j) / static_cast<double>(n);
  per_dim[j] = s;
}
// Thread e = i·d + j: s = dim_scale[j]·row_scale[i]; dmu += s·mu; dlogvar += s·½(exp(lv) − 1).
template <class T>
__global__ void kl_backward_kernel(std::int64_t total, std::int64_t d, const T* mu, const T* logvar,
                                   const double* row_scale, const double* dim_scale, T* dmu, T* dlogvar) {
  const std::int64_t e = thread_index();
  if (e >= total) return;
  const std::int64_t i = e / d, j = e % d;
  const double s = (dim_scale ? dim_scale[j] : 1.0) * row_scale[i];
  const double lv = static_cast<double>(logvar[e]), diff = static_cast<double>(mu[e]);
  dmu[e] = static_cast<T>(dmu[e] + s * diff * 1.0);
  dlogvar[e] = static_cast<T>(dlogvar[e] + s * 0.5 * (exp(lv) * 1.0 - 1.0));
}

// The cuda KL kernels know the standard normal prior only (the priors with device parameters are host-only).
inline void require_standard_normal(const double* prior_mean, const double* prior_logvar) {
  vae::check(prior_mean == nullptr && prior_logvar == nullptr,
             "gaussian_kl on cuda: only the standard normal prior N(0, I) for now (prior arrays must be null)");
}

}  // namespace cuda_detail

template <>
struct kernel<posterior_split_op, cuda> {
  template <class T>
  static void split(std::int64_t n, std::int64_t d, const T* h, T* mu, T* logvar) {
    const std::int64_t total = n * 2 * d;
    if (total == 0) return;
    cuda_detail::split_posterior_kernel<<<cuda_detail::blocks_for(total), cuda_detail::threads_per_block, 0,
                                          cuda_detail::stream()>>>(total, d, h, mu, logvar);
    cuda_detail::check_launch("vae::cuda split_posterior");
  }
  template <class T>
  static void join(std::int64_t n, std::int64_t d, const T* dmu, const T* dlogvar, T* dh) {
    const std::int64_t total = n * 2 * d;
    if (total == 0) return;
    cuda_detail::join_posterior_kernel<<<cuda_detail::blocks_for(total), cuda_detail::threads_per_block, 0,
                                         cuda_detail::stream()>>>(total, d, dmu, dlogvar, dh);
    cuda_detail::check_launch("vae::cuda join_posterior");
  }
};

template <>
struct kernel<reparameterize_op, cuda> {
  // Reserves n draws from rng exactly as the cpu kernel's rng.fill_normal(eps, n) does.
  template <class T>
  static void forward(generator& rng, std::int64_t n, const T* mu, const T* logvar, T* eps, T* z) {
    const auto first = rng.reserve(static_cast<std::uint64_t>(n));
    if (n == 0) return;
    cuda_detail::reparameterize_draw_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                              cuda_detail::stream()>>>(n, rng.seed(), first, mu, logvar, eps, z);
    cuda_detail::check_launch("vae::cuda reparameterize");
  }
  template <class T>
  static void backward(std::int64_t n, const T* logvar, const T* eps, const T* dz, T* dmu, T* dlogvar) {
    if (n == 0) return;
    cuda_detail::reparameterize_backward_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                                  cuda_detail::stream()>>>(n, logvar, eps, dz, dmu, dlogvar);
    cuda_detail::check_launch("vae::cuda reparameterize_backward");
  }
};

template <>
struct kernel<normal_fill_op, cuda> {
  template <class T>
  static void run(generator& rng, T* out, std::int64_t n) {
    const auto first = rng.reserve(static_cast<std::uint64_t>(n));
    if (n == 0) return;
    cuda_detail::standard_normal_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                          cuda_detail::stream()>>>(n, rng.seed(), first, out);
    cuda_detail::check_launch("vae::cuda fill_normal");
  }
};

template <>
struct kernel<gaussian_kl_op, cuda> {
  template <class T>
  static void forward(std::int64_t n, std::int64_t d, const T* mu, const T* logvar, const double* prior_mean,
                      const double* prior_logvar, double* per_row, double* per_dim) {
    cuda_detail::require_standard_normal(prior_mean, prior_logvar);
    if (n == 0 || d == 0) return;
    cuda_detail::kl_rows_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                  cuda_detail::stream()>>>(n, d, mu, logvar, per_row);
    cuda_detail::check_launch("vae::cuda gaussian_kl rows");
    cuda_detail::kl_dims_kernel<<<cuda_detail::blocks_for(d), cuda_detail::threads_per_block, 0,
                                  cuda_detail::stream()>>>(n, d, mu, logvar, per_dim);
    cuda_detail::check_launch("vae::cuda gaussian_kl dims");
  }
  template <class T>
  static void backward(std::int64_t n, std::int64_t d, const T* mu, const T* logvar, const double* prior_mean,
                       const double* prior_logvar, const double* row_scale, const double* dim_scale, T* dmu,
                       T* dlogvar, double* g_mean, double* g_logvar) {
    cuda_detail::require_standard_normal(prior_mean, prior_logvar);
    vae::check(g_mean == nullptr && g_logvar == nullptr,
               "gaussian_kl_backward on cuda: the standard normal prior has no gradients (g_mean, g_logvar must be null)");
    const std::int64_t total = n * d;
    if (total == 0) return;
    cuda_detail::kl_backward_kernel<<<cuda_detail::blocks_for(total), cuda_detail::threads_per_block, 0,
                                      cuda_detail::stream()>>>(total, d, mu, logvar, row_scale, dim_scale, dmu, dlogvar);
    cuda_detail::check_launch("vae::cuda gaussian_kl_backward");
  }
};

}  // namespace vae
