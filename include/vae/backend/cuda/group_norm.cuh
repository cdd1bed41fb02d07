// cuda kernel of the group-norm op: one block per (sample, group) for the moments and dx, one block per channel for
// the parameter gradients; sums in double through shared memory.
#pragma once
#include <cmath>
#include <cstdint>

#include "vae/backend/cuda.hpp"
#include "vae/backend/cuda/reduce.cuh"
#include "vae/ops/group_norm.hpp"

namespace vae {

namespace cuda_detail {

// Block i = (n, g) owns the contiguous len = cpg·spatial values of x from i·len.
template <class T>
__global__ void group_norm_forward_kernel(group_norm_dims d, double eps, const T* x, const T* weight, const T* bias,
                                          T* y, T* mean, T* rstd) {
  const std::int64_t cpg = d.channels / d.groups, len = cpg * d.spatial, i = blockIdx.x;
  const T* xs = x + i * len;
  T* ys = y + i * len;
  double s = 0;
  for (std::int64_t k = threadIdx.x; k < len; k += blockDim.x) s += static_cast<double>(xs[k]);
  const double m = block_sum(s) / static_cast<double>(len);
  double ss = 0;
  for (std::int64_t k = threadIdx.x; k < len; k += blockDim.x) {
    const double v = static_cast<double>(xs[k]) - m;
    ss += v * v;
  }
  const double rs = 1.0 / std::sqrt(block_sum(ss) / static_cast<double>(len) + eps);
  if (threadIdx.x == 0) {
    mean[i] = static_cast<T>(m);
    rstd[i] = static_cast<T>(rs);
  }
  const std::int64_t c0 = (i % d.groups) * cpg;
  const T mt = static_cast<T>(m);
  for (std::int64_t k = threadIdx.x; k < len; k += blockDim.x) {
    const std::int64_t c = c0 + k / d.spatial;
    const T scale = static_cast<T>(weight ? static_cast<double>(weight[c]) * rs : rs);
    const T shift = bias ? bias[c] : T(0);
    ys[k] = (xs[k] - mt) * scale + shift;
  }
}

// dx = rs·(ĝ − a/len − x̂·b/len) with ĝ = dy·w[c], a = Σ ĝ, b = Σ ĝ·x̂ over the block's group.
template <class T>
__global__ void group_norm_dx_kernel(group_norm_dims d, const T* x, const T* weight, const T* mean, const T* rstd,
                                     const T* dy, T* dx) {
  const std::int64_t cpg = d.channels / d.groups, len = cpg * d.spatial, i = blockIdx.x;
  const T* xs = x + i * len;
  const T* gs = dy + i * len;
  T* dxs = dx + i * len;
  const std::int64_t c0 = (i % d.groups) * cpg;
  const double m = static_cast<double>(mean[i]), rs = static_cast<double>(rstd[i]);
  double a = 0, b = 0;
  for (std::int64_t k = threadIdx.x; k < len; k += blockDim.x) {
    const double w = weight ? static_cast<double>(weight[c0 + k / d.spatial]) : 1.0;
    const double g = w * static_cast<double>(gs[k]);
    a += g;
    b += g * (static_cast<double>(xs[k]) - m) * rs;
  }
  block_sum2(a, b);
  const double inv_len = 1.0 / static_cast<double>(len);
  const T kb = static_cast<T>(rs * a * inv_len), kc = static_cast<T>(rs * rs * b * inv_len), mt = static_cast<T>(m);
  for (std::int64_t k = threadIdx.x; k < len; k += blockDim.x) {
    const double w = weight ? static_cast<double>(weight[c0 + k / d.spatial]) : 1.0;
    const T ka = static_cast<T>(rs * w);
    dxs[k] = ka * gs[k] - kb - (xs[k] - mt) * kc;
  }
}

// Block c: dweight[c] += Σ_{n,s} dy·x̂, dbias[c] += Σ_{n,s} dy.
template <class T>
__global__ void group_norm_param_grad_kernel(group_norm_dims d, const T* x, const T* mean, const T* rstd, const T* dy,
                                             T* dweight, T* dbias) {
  const std::int64_t cpg = d.channels / d.groups, c = blockIdx.x, count = d.batch * d.spatial;
  double sw = 0, sb = 0;
  for (std::int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    const std::int64_t n = k / d.spatial, s = k % d.spatial, i = n * d.groups + c / cpg;
    const std::int64_t at = (n * d.channels + c) * d.spatial + s;
    const double g = static_cast<double>(dy[at]);
    sb += g;
    sw += g * (static_cast<double>(x[at]) - static_cast<double>(mean[i])) * static_cast<double>(rstd[i]);
  }
  block_sum2(sw, sb);
  if (threadIdx.x == 0) {
    if (dweight) dweight[c] += static_cast<T>(sw);
    if (dbias) dbias[c] += static_cast<T>(sb);
  }
}

}  // namespace cuda_detail

template <>
struct kernel<group_norm_op, cuda> {
  template <class T>
  static void forward(const group_norm_dims& d, double eps, const T* x, const T* weight, const T* bias, T* y, T* mean,
                      T* rstd) {
    const std::int64_t blocks = d.batch * d.groups;
    if (blocks == 0) return;
    cuda_detail::group_norm_forward_kernel<<<cuda_detail::row_blocks(blocks), cuda_detail::reduce_threads, 0,
                                             cuda_detail::stream()>>>(d, eps, x, weight, bias, y, mean, rstd);
    cuda_detail::check_launch("vae::cuda group_norm forward");
  }

  template <class T>
  static void backward(const group_norm_dims& d, const T* x, const T* weight, const T* mean, const T* rstd, const T* dy,
                       T* dx, T* dweight, T* dbias) {
    const std::int64_t blocks = d.batch * d.groups;
    if (dx && blocks > 0) {
      cuda_detail::group_norm_dx_kernel<<<cuda_detail::row_blocks(blocks), cuda_detail::reduce_threads, 0,
                                          cuda_detail::stream()>>>(d, x, weight, mean, rstd, dy, dx);
      cuda_detail::check_launch("vae::cuda group_norm dx");
    }
    if ((dweight || dbias) && d.channels > 0) {
      cuda_detail::group_norm_param_grad_kernel<<<cuda_detail::row_blocks(d.channels), cuda_detail::reduce_threads, 0,
                                                  cuda_detail::stream()>>>(d, x, mean, rstd, dy, dweight, dbias);
      cuda_detail::check_launch("vae::cuda group_norm parameter gradients");
    }
  }
};

}  // namespace vae
