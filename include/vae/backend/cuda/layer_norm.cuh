// cuda kernel of the layer-norm op: one block per row (moments and dx, double sums in shared memory), one thread per
// feature for the parameter gradients.
#pragma once
#include <cmath>
#include <cstdint>

#include "vae/backend/cuda.hpp"
#include "vae/backend/cuda/reduce.cuh"
#include "vae/ops/layer_norm.hpp"

namespace vae {

namespace cuda_detail {

template <class T>
__global__ void layer_norm_forward_kernel(layer_norm_dims d, double eps, const T* x, const T* weight, const T* bias,
                                          T* y, T* mean, T* rstd) {
  const std::int64_t D = d.features, r = blockIdx.x;
  const T* xs = x + r * D;
  T* ys = y + r * D;
  double s = 0;
  for (std::int64_t j = threadIdx.x; j < D; j += blockDim.x) s += static_cast<double>(xs[j]);
  const double m = block_sum(s) / static_cast<double>(D);
  double ss = 0;
  for (std::int64_t j = threadIdx.x; j < D; j += blockDim.x) {
    const double v = static_cast<double>(xs[j]) - m;
    ss += v * v;
  }
  const double rs = 1.0 / std::sqrt(block_sum(ss) / static_cast<double>(D) + eps);
  if (threadIdx.x == 0) {
    mean[r] = static_cast<T>(m);
    rstd[r] = static_cast<T>(rs);
  }
  const T mt = static_cast<T>(m), rt = static_cast<T>(rs);
  for (std::int64_t j = threadIdx.x; j < D; j += blockDim.x)
    ys[j] = weight ? (xs[j] - mt) * rt * weight[j] + (bias ? bias[j] : T(0)) : (xs[j] - mt) * rt;
}

// dx = rs·(ĝ − a/D − x̂·b/D) with ĝ = dy·w, a = Σ ĝ, b = Σ ĝ·x̂ over the row.
template <class T>
__global__ void layer_norm_dx_kernel(layer_norm_dims d, const T* x, const T* weight, const T* mean, const T* rstd,
                                     const T* dy, T* dx) {
  const std::int64_t D = d.features, r = blockIdx.x;
  const T* xs = x + r * D;
  const T* gs = dy + r * D;
  T* dxs = dx + r * D;
  const double m = static_cast<double>(mean[r]), rs = static_cast<double>(rstd[r]);
  double a = 0, b = 0;
  for (std::int64_t j = threadIdx.x; j < D; j += blockDim.x) {
    const double g = static_cast<double>(gs[j]) * (weight ? static_cast<double>(weight[j]) : 1.0);
    a += g;
    b += g * (static_cast<double>(xs[j]) - m);
  }
  block_sum2(a, b);
  b *= rs;
  const double inv_d = 1.0 / static_cast<double>(D);
  const T rt = static_cast<T>(rs), ka = static_cast<T>(rs * a * inv_d), kb = static_cast<T>(rs * rs * b * inv_d),
          mt = static_cast<T>(m);
  for (std::int64_t j = threadIdx.x; j < D; j += blockDim.x) {
    const T g = weight ? gs[j] * weight[j] : gs[j];
    dxs[j] = rt * g - ka - (xs[j] - mt) * kb;
  }
}

// Thread j: dweight[j] += Σ_rows dy·x̂, dbias[j] += Σ_rows dy (rows in order, in double).
template <class T>
__global__ void layer_norm_param_grad_kernel(layer_norm_dims d, const T* x, const T* mean, const T* rstd, const T* dy,
                                             T* dweight, T* dbias) {
  const std::int64_t j = thread_index(), D = d.features;
  if (j >= D) return;
  double sw = 0, sb = 0;
  for (std::int64_t r = 0; r < d.rows; ++r) {
    const double g = static_cast<double>(dy[r * D + j]);
    sb += g;
    sw += g * (static_cast<double>(x[r * D + j]) - static_cast<double>(mean[r])) * static_cast<double>(rstd[r]);
  }
  if (dweight) dweight[j] += static_cast<T>(sw);
  if (dbias) dbias[j] += static_cast<T>(sb);
}

}  // namespace cuda_detail

template <>
struct kernel<layer_norm_op, cuda> {
  template <class T>
  static void forward(const layer_norm_dims& d, double eps, const T* x, const T* weight, const T* bias, T* y, T* mean,
                      T* rstd) {
    if (d.rows == 0 || d.features == 0) return;
    cuda_detail::layer_norm_forward_kernel<<<cuda_detail::row_blocks(d.rows), cuda_detail::reduce_threads, 0,
                                             cuda_detail::stream()>>>(d, eps, x, weight, bias, y, mean, rstd);
    cuda_detail::check_launch("vae::cuda layer_norm forward");
  }

  template <class T>
  static void backward(const layer_norm_dims& d, const T* x, const T* weight, const T* mean, const T* rstd, const T* dy,
                       T* dx, T* dweight, T* dbias) {
    if (d.rows == 0 || d.features == 0) return;
    if (dx) {
      cuda_detail::layer_norm_dx_kernel<<<cuda_detail::row_blocks(d.rows), cuda_detail::reduce_threads, 0,
                                          cuda_detail::stream()>>>(d, x, weight, mean, rstd, dy, dx);
      cuda_detail::check_launch("vae::cuda layer_norm dx");
    }
    if (dweight || dbias) {
      cuda_detail::layer_norm_param_grad_kernel<<<cuda_detail::blocks_for(d.features), cuda_detail::threads_per_block,
                                                  0, cuda_detail::stream()>>>(d, x, mean, rstd, dy, dweight, dbias);
      cuda_detail::check_launch("vae::cuda layer_norm parameter gradients");
    }
  }
};

}  // namespace vae
