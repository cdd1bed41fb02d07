// cuda kernel of the ActNorm op: one thread per element for y and dx, one block per channel for the statistics and
// the parameter gradients (sums in double through shared memory).
#pragma once
#include <cmath>
#include <cstdint>

#include "vae/backend/cuda.hpp"
#include "vae/backend/cuda/reduce.cuh"
#include "vae/ops/act_norm.hpp"

namespace vae {

namespace cuda_detail {

// Block c: mean and unbiased std of channel c over batch and positions; skipped whole when already initialised.
template <class T>
__global__ void act_norm_initialize_kernel(act_norm_dims d, const T* x, T* loc, T* scale, const T* initialized) {
  if (*initialized != T(0)) return;
  const std::int64_t c = blockIdx.x, len = d.batch * d.spatial;
  double s = 0;
  for (std::int64_t k = threadIdx.x; k < len; k += blockDim.x)
    s += static_cast<double>(x[((k / d.spatial) * d.channels + c) * d.spatial + k % d.spatial]);
  const double m = block_sum(s) / static_cast<double>(len);
  double ss = 0;
  for (std::int64_t k = threadIdx.x; k < len; k += blockDim.x) {
    const double v = static_cast<double>(x[((k / d.spatial) * d.channels + c) * d.spatial + k % d.spatial]) - m;
    ss += v * v;
  }
  const double var = block_sum(ss) / static_cast<double>(len - 1);
  if (threadIdx.x == 0) {
    loc[c] = static_cast<T>(-m);
    scale[c] = static_cast<T>(1.0 / (sqrt(var) + 1e-6));
  }
}

template <class T>
__global__ void act_norm_mark_kernel(T* initialized) {
  *initialized = T(1);
}

template <class T>
__global__ void act_norm_forward_kernel(act_norm_dims d, const T* x, const T* loc, const T* scale, T* y) {
  const std::int64_t i = thread_index();
  if (i >= d.batch * d.channels * d.spatial) return;
  const std::int64_t c = (i / d.spatial) % d.channels;
  y[i] = scale[c] * (x[i] + loc[c]);
}

template <class T>
__global__ void act_norm_input_grad_kernel(act_norm_dims d, const T* scale, const T* dy, T* dx) {
  const std::int64_t i = thread_index();
  if (i >= d.batch * d.channels * d.spatial) return;
  dx[i] = scale[(i / d.spatial) % d.channels] * dy[i];
}

// Block c: dloc[c] += scale[c]·Σ dy, dscale[c] += Σ (x + loc[c])·dy over channel c.
template <class T>
__global__ void act_norm_param_grad_kernel(act_norm_dims d, const T* x, const T* loc, const T* scale, const T* dy,
                                           T* dloc, T* dscale) {
  const std::int64_t c = blockIdx.x, len = d.batch * d.spatial;
  const T l = loc[c];
  double s = 0, sx = 0;
  for (std::int64_t k = threadIdx.x; k < len; k += blockDim.x) {
    const std::int64_t o = ((k / d.spatial) * d.channels + c) * d.spatial + k % d.spatial;
    s += static_cast<double>(dy[o]);
    sx += static_cast<double>(x[o] + l) * static_cast<double>(dy[o]);
  }
  block_sum2(s, sx);
  if (threadIdx.x == 0) {
    if (dloc) dloc[c] += static_cast<T>(static_cast<double>(scale[c]) * s);
    if (dscale) dscale[c] += static_cast<T>(sx);
  }
}

}  // namespace cuda_detail

template <>
struct kernel<act_norm_op, cuda> {
  template <class T>
  static void initialize(const act_norm_dims& d, const T* x, T* loc, T* scale, T* initialized) {
    if (d.channels == 0) return;
    cuda_detail::act_norm_initialize_kernel<<<static_cast<unsigned>(d.channels), cuda_detail::reduce_threads, 0,
                                              cuda_detail::stream()>>>(d, x, loc, scale, initialized);
    cuda_detail::check_launch("vae::cuda act_norm initialize");
    cuda_detail::act_norm_mark_kernel<<<1, 1, 0, cuda_detail::stream()>>>(initialized);
    cuda_detail::check_launch("vae::cuda act_norm mark initialized");
  }
  template <class T>
  static void forward(const act_norm_dims& d, const T* x, const T* loc, const T* scale, T* y) {
    const std::int64_t n = d.batch * d.channels * d.spatial;
    if (n == 0) return;
    cuda_detail::act_norm_forward_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                           cuda_detail::stream()>>>(d, x, loc, scale, y);
    cuda_detail::check_launch("vae::cuda act_norm forward");
  }
  template <class T>
  static void backward(const act_norm_dims& d, const T* x, const T* loc, const T* scale, const T* dy, T* dx, T* dloc,
                       T* dscale) {
    const std::int64_t n = d.batch * d.channels * d.spatial;
    if (n == 0) return;
    cuda_detail::act_norm_input_grad_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                              cuda_detail::stream()>>>(d, scale, dy, dx);
    cuda_detail::check_launch("vae::cuda act_norm input gradient");
    if (!dloc && !dscale) return;
    cuda_detail::act_norm_param_grad_kernel<<<static_cast<unsigned>(d.channels), cuda_detail::reduce_threads, 0,
                                              cuda_detail::stream()>>>(d, x, loc, scale, dy, dloc, dscale);
    cuda_detail::check_launch("vae::cuda act_norm parameter gradients");
  }
};

}  // namespace vae
