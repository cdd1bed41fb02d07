// cuda kernels of the likelihood ops: one block per image for the −log p sums (double, block tree order), one thread
// per element for gradients and means. Compiled by nvcc in this repository's CI; emulated on the host by
// tests/cuda/emulation; run on a GPU only by tests/cuda/vae_step.cu.
#pragma once
#include <cmath>
#include <cstdint>

#include "vae/backend/cuda.hpp"
#include "vae/backend/cuda/reduce.cuh"
#include "vae/ops/likelihood_terms.hpp"

namespace vae {

namespace cuda_detail {

// Block i = image i: per_row[i] = Σ_k max(o, 0) + log1p(exp(−|o|)) − o·x over its p values (thread t takes
// k = t, t + blockDim, ...; then block_sum). Every thread reaches block_sum.
template <class T>
__global__ void bernoulli_nll_kernel(std::int64_t p, const T* out, const T* x, double* per_row) {
  const std::int64_t i = blockIdx.x;
  double s = 0;
  for (std::int64_t k = threadIdx.x; k < p; k += blockDim.x) {
    const double o = static_cast<double>(out[i * p + k]);
    s += fmax(o, 0.0) + log1p(exp(-fabs(o))) - o * static_cast<double>(x[i * p + k]);
  }
  s = block_sum(s);
  if (threadIdx.x == 0) per_row[i] = s;
}

// Thread e < rows·p: d_out[e] = w_row·(σ(o) − x).
template <class T>
__global__ void bernoulli_grad_kernel(std::int64_t n, std::int64_t p, const T* out, const T* x,
                                      const double* row_weight, T* d_out) {
  const std::int64_t e = thread_index();
  if (e >= n) return;
  const double o = static_cast<double>(out[e]), ex = exp(-fabs(o));
  const double sig = (o >= 0.0 ? 1.0 : ex) / (1.0 + ex);
  d_out[e] = static_cast<T>(row_weight[e / p] * (sig - static_cast<double>(x[e])));
}

template <class T>
__global__ void sigmoid_kernel(std::int64_t n, const T* out, T* pixels) {
  const std::int64_t e = thread_index();
  if (e >= n) return;
  const double o = static_cast<double>(out[e]), ex = exp(-fabs(o));
  pixels[e] = static_cast<T>(o >= 0 ? 1.0 / (1.0 + ex) : ex / (1.0 + ex));
}

// Block i = image i: per_row[i] = Σ_k ½(x − o)²/c + half_log_2pi_c.
template <class T>
__global__ void gaussian_nll_kernel(std::int64_t p, double variance, double half_log_2pi_c, const T* out, const T* x,
                                    double* per_row) {
  const std::int64_t i = blockIdx.x;
  double s = 0;
  for (std::int64_t k = threadIdx.x; k < p; k += blockDim.x) {
    const double d = static_cast<double>(x[i * p + k]) - static_cast<double>(out[i * p + k]);
    s += 0.5 * d * d / variance + half_log_2pi_c;
  }
  s = block_sum(s);
  if (threadIdx.x == 0) per_row[i] = s;
}

template <class T>
__global__ void gaussian_grad_kernel(std::int64_t n, std::int64_t p, double variance, const T* out, const T* x,
                                     const double* row_weight, T* d_out) {
  const std::int64_t e = thread_index();
  if (e >= n) return;
  d_out[e] = static_cast<T>(row_weight[e / p] / variance * (static_cast<double>(out[e]) - static_cast<double>(x[e])));
}

}  // namespace cuda_detail

template <>
struct kernel<bernoulli_likelihood_op, cuda> {
  template <class T>
  static void nll(std::int64_t rows, std::int64_t p, const T* out, const T* x, double* per_row) {
    if (rows == 0) return;
    cuda_detail::bernoulli_nll_kernel<<<cuda_detail::row_blocks(rows), cuda_detail::reduce_threads, 0,
                                        cuda_detail::stream()>>>(p, out, x, per_row);
    cuda_detail::check_launch("vae::cuda bernoulli_nll");
  }
  template <class T>
  static void backward(std::int64_t rows, std::int64_t p, const T* out, const T* x, const double* row_weight,
                       T* d_out) {
    const std::int64_t n = rows * p;
    if (n == 0) return;
    cuda_detail::bernoulli_grad_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                         cuda_detail::stream()>>>(n, p, out, x, row_weight, d_out);
    cuda_detail::check_launch("vae::cuda bernoulli_nll_backward");
  }
  template <class T>
  static void mean(std::int64_t n, const T* out, T* pixels) {
    if (n == 0) return;
    cuda_detail::sigmoid_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                  cuda_detail::stream()>>>(n, out, pixels);
    cuda_detail::check_launch("vae::cuda bernoulli_mean");
  }
};

template <>
struct kernel<gaussian_likelihood_op, cuda> {
  template <class T>
  static void nll(std::int64_t rows, std::int64_t p, double variance, const T* out, const T* x, double* per_row) {
    if (rows == 0) return;
    const double c = 0.5 * (1.8378770664093454835606594728112 + std::log(variance));  // ½ log(2πc)
    cuda_detail::gaussian_nll_kernel<<<cuda_detail::row_blocks(rows), cuda_detail::reduce_threads, 0,
                                       cuda_detail::stream()>>>(p, variance, c, out, x, per_row);
    cuda_detail::check_launch("vae::cuda gaussian_nll");
  }
  template <class T>
  static void backward(std::int64_t rows, std::int64_t p, double variance, const T* out, const T* x,
                       const double* row_weight, T* d_out) {
    const std::int64_t n = rows * p;
    if (n == 0) return;
    cuda_detail::gaussian_grad_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                        cuda_detail::stream()>>>(n, p, variance, out, x, row_weight, d_out);
    cuda_detail::check_launch("vae::cuda gaussian_nll_backward");
  }
};

}  // namespace vae
