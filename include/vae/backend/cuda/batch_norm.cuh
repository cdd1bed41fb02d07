// cuda kernel of the batch-norm op: one block per channel (batch × spatial values, strided) for the training
// statistics, the channel sums and the backward, one thread per element for eval mode; sums in double through shared
// memory.
#pragma once
#include <cmath>
#include <cstdint>

#include "vae/backend/cuda.hpp"
#include "vae/backend/cuda/reduce.cuh"
#include "vae/ops/batch_norm.hpp"

namespace vae {

namespace cuda_detail {

// Element k ∈ [0, batch·spatial) of channel c, in NCHW.
__device__ inline std::int64_t batch_norm_at(const batch_norm_dims& d, std::int64_t c, std::int64_t k) {
  return ((k / d.spatial) * d.channels + c) * d.spatial + k % d.spatial;
}

// Σ x over channel c's batch·spatial values, by block c (every thread gets it).
template <class T>
__device__ double batch_norm_block_sum(const batch_norm_dims& d, std::int64_t c, const T* x) {
  const std::int64_t count = d.batch * d.spatial;
  double s = 0;
  for (std::int64_t k = threadIdx.x; k < count; k += blockDim.x) s += static_cast<double>(x[batch_norm_at(d, c, k)]);
  return block_sum(s);
}

// Σ (x − m)² over channel c's values, by block c (every thread gets it).
template <class T>
__device__ double batch_norm_block_squared_deviation(const batch_norm_dims& d, std::int64_t c, const T* x, double m) {
  const std::int64_t count = d.batch * d.spatial;
  double ss = 0;
  for (std::int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    const double v = static_cast<double>(x[batch_norm_at(d, c, k)]) - m;
    ss += v * v;
  }
  return block_sum(ss);
}

// Block c: mean, biased variance, rstd, running statistics (unbiased variance), then y.
template <class T>
__global__ void batch_norm_train_kernel(batch_norm_dims d, double eps, double momentum, const T* x, const T* weight,
                                        const T* bias, T* y, T* mean, T* rstd, T* running_mean, T* running_var) {
  const std::int64_t c = blockIdx.x, count = d.batch * d.spatial;
  const double m = batch_norm_block_sum(d, c, x) / static_cast<double>(count);
  const double ss = batch_norm_block_squared_deviation(d, c, x, m);
  const double var = ss / static_cast<double>(count);
  const double rs = 1.0 / std::sqrt(var + eps);
  if (threadIdx.x == 0) {
    mean[c] = static_cast<T>(m);
    rstd[c] = static_cast<T>(rs);
    if (running_mean)
      running_mean[c] = static_cast<T>((1 - momentum) * static_cast<double>(running_mean[c]) + momentum * m);
    if (running_var) {
      const double unbiased = count > 1 ? ss / static_cast<double>(count - 1) : var;
      running_var[c] = static_cast<T>((1 - momentum) * static_cast<double>(running_var[c]) + momentum * unbiased);
    }
  }
  const T scale = static_cast<T>(weight ? static_cast<double>(weight[c]) * rs : rs);
  const T shift = bias ? bias[c] : T(0), mt = static_cast<T>(m);
  for (std::int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    const std::int64_t at = batch_norm_at(d, c, k);
    y[at] = (x[at] - mt) * scale + shift;
  }
}

// Block c: sum[c] = Σ x, sum_sq_dev[c] = Σ (x − center[c])² (either skipped when null).
template <class T>
__global__ void batch_norm_channel_sums_kernel(batch_norm_dims d, const T* x, const double* center, double* sum,
                                               double* sum_sq_dev) {
  const std::int64_t c = blockIdx.x;
  if (sum) {
    const double s = batch_norm_block_sum(d, c, x);
    if (threadIdx.x == 0) sum[c] = s;
  }
  if (sum_sq_dev) {
    const double ss = batch_norm_block_squared_deviation(d, c, x, center ? center[c] : 0.0);
    if (threadIdx.x == 0) sum_sq_dev[c] = ss;
  }
}

// Thread c: the saved statistics of eval mode (mean = running_mean, rstd from running_var).
template <class T, class S>
__global__ void batch_norm_eval_stats_kernel(batch_norm_dims d, double eps, const S* running_mean,
                                             const S* running_var, T* mean, T* rstd) {
  const std::int64_t c = thread_index();
  if (c >= d.channels) return;
  mean[c] = static_cast<T>(running_mean[c]);
  rstd[c] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps));
}

// One thread per element: y = (x − running_mean[c])·(rs·w[c]) + b[c], rs in double as the cpu kernel.
template <class T, class S>
__global__ void batch_norm_eval_apply_kernel(batch_norm_dims d, double eps, const T* x, const T* weight, const T* bias,
                                             const S* running_mean, const S* running_var, T* y) {
  const std::int64_t i = thread_index();
  if (i >= d.batch * d.channels * d.spatial) return;
  const std::int64_t c = (i / d.spatial) % d.channels;
  const double rs = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
  const T scale = static_cast<T>(weight ? static_cast<double>(weight[c]) * rs : rs);
  const T shift = bias ? bias[c] : T(0);
  y[i] = (x[i] - static_cast<T>(running_mean[c])) * scale + shift;
}

// Block c: sg = Σ dy, sgx = Σ dy·x̂ (every thread gets them); thread 0 adds dweight[c] += sgx, dbias[c] += sg.
template <class T>
__device__ void batch_norm_block_backward_sums(const batch_norm_dims& d, std::int64_t c, const T* x, const T* mean,
                                               const T* rstd, const T* dy, double& sg, double& sgx, T* dweight,
                                               T* dbias) {
  const std::int64_t count = d.batch * d.spatial;
  const double m = static_cast<double>(mean[c]), rs = static_cast<double>(rstd[c]);
  double a = 0, b = 0;
  for (std::int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    const std::int64_t at = batch_norm_at(d, c, k);
    const double g = static_cast<double>(dy[at]);
    a += g;
    b += g * (static_cast<double>(x[at]) - m);
  }
  block_sum2(a, b);
  sg = a;
  sgx = b * rs;
  if (threadIdx.x == 0) {
    if (dweight) dweight[c] += static_cast<T>(sgx);
    if (dbias) dbias[c] += static_cast<T>(sg);
  }
}

// Block c: dx = rs·w·(dy − mean_g − x̂·mean_gx) in double: the float form ka·dy − kb − (x − m)·kc cancels
// catastrophically when few values share a channel (one value: dx is exactly 0 but the terms are ~rs·dy, rs up to
// 1/√eps), and nvcc's FMA contraction of it rounds differently from the host's.
template <class T>
__device__ void batch_norm_block_input_gradient(const batch_norm_dims& d, std::int64_t c, const T* x, const T* weight,
                                                const T* mean, const T* rstd, const T* dy, double mean_g,
                                                double mean_gx, T* dx) {
  const std::int64_t count = d.batch * d.spatial;
  const double m = static_cast<double>(mean[c]), rs = static_cast<double>(rstd[c]);
  const double ka = rs * (weight ? static_cast<double>(weight[c]) : 1.0);
  for (std::int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    const std::int64_t at = batch_norm_at(d, c, k);
    const double xhat = (static_cast<double>(x[at]) - m) * rs;
    dx[at] = static_cast<T>(ka * (static_cast<double>(dy[at]) - mean_g - xhat * mean_gx));
  }
}

// Block c: the parameter gradients, then dx (training: through the statistics; eval: mean_g = mean_gx = 0).
template <class T>
__global__ void batch_norm_backward_kernel(batch_norm_dims d, bool training, const T* x, const T* weight,
                                           const T* mean, const T* rstd, const T* dy, T* dx, T* dweight, T* dbias) {
  const std::int64_t c = blockIdx.x;
  double sg, sgx;
  batch_norm_block_backward_sums(d, c, x, mean, rstd, dy, sg, sgx, dweight, dbias);
  if (!dx) return;
  const double inv_count = 1.0 / static_cast<double>(d.batch * d.spatial);
  batch_norm_block_input_gradient(d, c, x, weight, mean, rstd, dy, training ? sg * inv_count : 0.0,
                                  training ? sgx * inv_count : 0.0, dx);
}

// Block c: sum_dy[c], sum_dy_xhat[c] and the parameter gradients.
template <class T>
__global__ void batch_norm_backward_reduce_kernel(batch_norm_dims d, const T* x, const T* mean, const T* rstd,
                                                  const T* dy, double* sum_dy, double* sum_dy_xhat, T* dweight,
                                                  T* dbias) {
  const std::int64_t c = blockIdx.x;
  double sg, sgx;
  batch_norm_block_backward_sums(d, c, x, mean, rstd, dy, sg, sgx, dweight, dbias);
  if (threadIdx.x == 0) {
    sum_dy[c] = sg;
    sum_dy_xhat[c] = sgx;
  }
}

// Block c: dx from the given means of dy and dy·x̂.
template <class T>
__global__ void batch_norm_backward_elemt_kernel(batch_norm_dims d, const T* x, const T* weight, const T* mean,
                                                 const T* rstd, const T* dy, const double* mean_dy,
                                                 const double* mean_dy_xhat, T* dx) {
  const std::int64_t c = blockIdx.x;
  batch_norm_block_input_gradient(d, c, x, weight, mean, rstd, dy, mean_dy[c], mean_dy_xhat[c], dx);
}

}  // namespace cuda_detail

template <>
struct kernel<batch_norm_op, cuda> {
  template <class T>
  static void forward_train(const batch_norm_dims& d, double eps, double momentum, const T* x, const T* weight,
                            const T* bias, T* y, T* mean, T* rstd, T* running_mean, T* running_var) {
    if (d.channels == 0) return;
    cuda_detail::batch_norm_train_kernel<<<cuda_detail::row_blocks(d.channels), cuda_detail::reduce_threads, 0,
                                           cuda_detail::stream()>>>(d, eps, momentum, x, weight, bias, y, mean, rstd,
                                                                    running_mean, running_var);
    cuda_detail::check_launch("vae::cuda batch_norm forward (training)");
  }

  // Statistics S: T (eval: the running statistics) or double (batch_norm_forward_with_stats).
  template <class T, class S>
  static void forward_eval(const batch_norm_dims& d, double eps, const T* x, const T* weight, const T* bias,
                           const S* running_mean, const S* running_var, T* y, T* mean, T* rstd) {
    if (d.channels == 0) return;
    cuda_detail::batch_norm_eval_stats_kernel<<<cuda_detail::blocks_for(d.channels), cuda_detail::threads_per_block, 0,
                                                cuda_detail::stream()>>>(d, eps, running_mean, running_var, mean, rstd);
    cuda_detail::check_launch("vae::cuda batch_norm eval statistics");
    const std::int64_t n = d.batch * d.channels * d.spatial;
    if (n == 0) return;
    cuda_detail::batch_norm_eval_apply_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                                cuda_detail::stream()>>>(d, eps, x, weight, bias, running_mean,
                                                                         running_var, y);
    cuda_detail::check_launch("vae::cuda batch_norm forward (eval)");
  }

  template <class T>
  static void backward(const batch_norm_dims& d, bool training, const T* x, const T* weight, const T* mean,
                       const T* rstd, const T* dy, T* dx, T* dweight, T* dbias) {
    if (d.channels == 0) return;
    cuda_detail::batch_norm_backward_kernel<<<cuda_detail::row_blocks(d.channels), cuda_detail::reduce_threads, 0,
                                              cuda_detail::stream()>>>(d, training, x, weight, mean, rstd, dy, dx,
                                                                       dweight, dbias);
    cuda_detail::check_launch("vae::cuda batch_norm backward");
  }

  template <class T>
  static void channel_sums(const batch_norm_dims& d, const T* x, const double* center, double* sum,
                           double* sum_sq_dev) {
    if (d.channels == 0) return;
    cuda_detail::batch_norm_channel_sums_kernel<<<cuda_detail::row_blocks(d.channels), cuda_detail::reduce_threads, 0,
                                                  cuda_detail::stream()>>>(d, x, center, sum, sum_sq_dev);
    cuda_detail::check_launch("vae::cuda batch_norm channel sums");
  }

  template <class T>
  static void backward_reduce(const batch_norm_dims& d, const T* x, const T* mean, const T* rstd, const T* dy,
                              double* sum_dy, double* sum_dy_xhat, T* dweight, T* dbias) {
    if (d.channels == 0) return;
    cuda_detail::batch_norm_backward_reduce_kernel<<<cuda_detail::row_blocks(d.channels), cuda_detail::reduce_threads,
                                                     0, cuda_detail::stream()>>>(d, x, mean, rstd, dy, sum_dy,
                                                                                 sum_dy_xhat, dweight, dbias);
    cuda_detail::check_launch("vae::cuda batch_norm backward reduce");
  }

  template <class T>
  static void backward_elemt(const batch_norm_dims& d, const T* x, const T* weight, const T* mean, const T* rstd,
                             const T* dy, const double* mean_dy, const double* mean_dy_xhat, T* dx) {
    if (d.channels == 0) return;
    cuda_detail::batch_norm_backward_elemt_kernel<<<cuda_detail::row_blocks(d.channels), cuda_detail::reduce_threads,
                                                    0, cuda_detail::stream()>>>(d, x, weight, mean, rstd, dy, mean_dy,
                                                                                mean_dy_xhat, dx);
    cuda_detail::check_launch("vae::cuda batch_norm backward elemt");
  }
};

}  // namespace vae
