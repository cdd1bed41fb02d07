// cuda kernel of the softmax op: one block per row; max-shifted exponentials, sums in double through shared memory.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

#include "vae/backend/cuda.hpp"
#include "vae/backend/cuda/reduce.cuh"
#include "vae/ops/softmax.hpp"

namespace vae {

namespace cuda_detail {

// max of the row (exact: the double conversion of T is exact, and so is the conversion back).
template <class T>
__device__ T row_max(const T* xs, std::int64_t cols) {
  double m = -std::numeric_limits<double>::infinity();
  for (std::int64_t j = threadIdx.x; j < cols; j += blockDim.x) m = fmax(m, static_cast<double>(xs[j]));
  return static_cast<T>(block_max(m));
}

// y may alias x: every thread reads its x[j] before writing y[j], and the max is complete (block_max syncs) first.
template <class T>
__global__ void softmax_forward_kernel(softmax_dims d, const T* x, T* y) {
  const T* xs = x + blockIdx.x * d.cols;
  T* ys = y + blockIdx.x * d.cols;
  const T m = row_max(xs, d.cols);
  double s = 0;
  for (std::int64_t j = threadIdx.x; j < d.cols; j += blockDim.x) {
    ys[j] = std::exp(xs[j] - m);
    s += static_cast<double>(ys[j]);
  }
  const T inv = static_cast<T>(1.0 / block_sum(s));
  for (std::int64_t j = threadIdx.x; j < d.cols; j += blockDim.x) ys[j] *= inv;
}

// dx = y ⊙ (dy − Σ dy·y); dx may alias dy (each thread rewrites only the entries it read, after the sum).
template <class T>
__global__ void softmax_backward_kernel(softmax_dims d, const T* y, const T* dy, T* dx) {
  const T* ys = y + blockIdx.x * d.cols;
  const T* gs = dy + blockIdx.x * d.cols;
  T* dxs = dx + blockIdx.x * d.cols;
  double s = 0;
  for (std::int64_t j = threadIdx.x; j < d.cols; j += blockDim.x)
    s += static_cast<double>(gs[j]) * static_cast<double>(ys[j]);
  const T st = static_cast<T>(block_sum(s));
  for (std::int64_t j = threadIdx.x; j < d.cols; j += blockDim.x) dxs[j] = ys[j] * (gs[j] - st);
}

// y = (x − max) − log Σ exp(x − max).
template <class T>
__global__ void log_softmax_forward_kernel(softmax_dims d, const T* x, T* y) {
  const T* xs = x + blockIdx.x * d.cols;
  T* ys = y + blockIdx.x * d.cols;
  const T m = row_max(xs, d.cols);
  double s = 0;
  for (std::int64_t j = threadIdx.x; j < d.cols; j += blockDim.x) s += static_cast<double>(std::exp(xs[j] - m));
  const T log_s = static_cast<T>(std::log(block_sum(s)));
  for (std::int64_t j = threadIdx.x; j < d.cols; j += blockDim.x) ys[j] = (xs[j] - m) - log_s;
}

// dx = dy − exp(y)·Σ dy.
template <class T>
__global__ void log_softmax_backward_kernel(softmax_dims d, const T* y, const T* dy, T* dx) {
  const T* ys = y + blockIdx.x * d.cols;
  const T* gs = dy + blockIdx.x * d.cols;
  T* dxs = dx + blockIdx.x * d.cols;
  double s = 0;
  for (std::int64_t j = threadIdx.x; j < d.cols; j += blockDim.x) s += static_cast<double>(gs[j]);
  const T st = static_cast<T>(block_sum(s));
  for (std::int64_t j = threadIdx.x; j < d.cols; j += blockDim.x) dxs[j] = gs[j] - std::exp(ys[j]) * st;
}

}  // namespace cuda_detail

template <>
struct kernel<softmax_op, cuda> {
  template <class T>
  static void softmax_forward(const softmax_dims& d, const T* x, T* y) {
    if (d.rows == 0 || d.cols == 0) return;
    cuda_detail::softmax_forward_kernel<<<cuda_detail::row_blocks(d.rows), cuda_detail::reduce_threads, 0,
                                          cuda_detail::stream()>>>(d, x, y);
    cuda_detail::check_launch("vae::cuda softmax forward");
  }
  template <class T>
  static void softmax_backward(const softmax_dims& d, const T* y, const T* dy, T* dx) {
    if (d.rows == 0 || d.cols == 0) return;
    cuda_detail::softmax_backward_kernel<<<cuda_detail::row_blocks(d.rows), cuda_detail::reduce_threads, 0,
                                           cuda_detail::stream()>>>(d, y, dy, dx);
    cuda_detail::check_launch("vae::cuda softmax backward");
  }
  template <class T>
  static void log_softmax_forward(const softmax_dims& d, const T* x, T* y) {
    if (d.rows == 0 || d.cols == 0) return;
    cuda_detail::log_softmax_forward_kernel<<<cuda_detail::row_blocks(d.rows), cuda_detail::reduce_threads, 0,
                                              cuda_detail::stream()>>>(d, x, y);
    cuda_detail::check_launch("vae::cuda log_softmax forward");
  }
  template <class T>
  static void log_softmax_backward(const softmax_dims& d, const T* y, const T* dy, T* dx) {
    if (d.rows == 0 || d.cols == 0) return;
    cuda_detail::log_softmax_backward_kernel<<<cuda_detail::row_blocks(d.rows), cuda_detail::reduce_threads, 0,
                                               cuda_detail::stream()>>>(d, y, dy, dx);
    cuda_detail::check_launch("vae::cuda log_softmax backward");
  }
};

}  // namespace vae
