// cuda kernels of the loss ops: one thread per element (elementwise losses) or one block per row (cross-entropy),
// per-block partial sums in double, then one block sums the partials and the total is copied to the host.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "vae/backend/cuda.hpp"
#include "vae/backend/cuda/reduce.cuh"
#include "vae/core/error.hpp"
#include "vae/core/tensor.hpp"
#include "vae/ops/losses.hpp"

namespace vae {

namespace cuda_detail {

// The loss policies in ops/losses.hpp are host-only; the device has its own copy of each formula (in double, as
// the host). Keep them in step: tests/cuda/losses.cu compares each with the cpu kernel.
template <class Loss>
struct device_loss {
  static_assert(sizeof(Loss) == 0,
                "vae cuda: this loss has no device version; add a device_loss specialisation in backend/cuda/losses.cuh");
};
template <>
struct device_loss<losses::MSE> {
  __device__ static double value(double x, double t) { return (x - t) * (x - t); }
  __device__ static double derivative(double x, double t) { return 2 * (x - t); }
};
template <>
struct device_loss<losses::L1> {
  __device__ static double value(double x, double t) { return fabs(x - t); }
  __device__ static double derivative(double x, double t) { return x > t ? 1.0 : (x < t ? -1.0 : 0.0); }
};
template <>
struct device_loss<losses::BCEWithLogits> {
  __device__ static double value(double x, double t) { return fmax(x, 0.0) - x * t + log1p(exp(-fabs(x))); }
  __device__ static double derivative(double x, double t) {
    const double e = exp(-fabs(x));
    return (x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e)) - t;
  }
};

template <>
struct device_loss<losses::Hinge> {
  __device__ static double value(double x, double t) { return 1.0 - t * x < 0 ? 0.0 : 1.0 - t * x; }
  __device__ static double derivative(double x, double t) { return 1.0 - t * x > 0 ? -t : 0.0; }
};
template <>
struct device_loss<losses::NegatedProduct> {
  __device__ static double value(double x, double t) { return -t * x; }
  __device__ static double derivative(double, double t) { return -t; }
};
template <>
struct device_loss<losses::ExcessSquared> {
  __device__ static double value(double x, double t) { return x < t ? 0.0 : (x - t) * (x - t); }
  __device__ static double derivative(double x, double t) { return x > t ? 2 * (x - t) : 0.0; }
};
template <>
struct device_loss<losses::DeficitSquared> {
  __device__ static double value(double x, double t) { return t < x ? 0.0 : (t - x) * (t - x); }
  __device__ static double derivative(double x, double t) { return t > x ? -2 * (t - x) : 0.0; }
};

// Thread i: loss(x[i], t[i]) into per_element/dx when non-null; partial[blockIdx.x] = Σ over the block.
// Every thread reaches the block sum (no early return).
template <class DeviceLoss, class T>
__global__ void elementwise_loss_kernel(std::int64_t n, const T* x, const T* target, double grad_scale, T* dx,
                                        T* per_element, double* partial) {
  const std::int64_t i = thread_index();
  double v = 0;
  if (i < n) {
    const double xi = static_cast<double>(x[i]), ti = static_cast<double>(target[i]);
    v = DeviceLoss::value(xi, ti);
    if (per_element) per_element[i] = static_cast<T>(v);
    if (dx) dx[i] = static_cast<T>(grad_scale * DeviceLoss::derivative(xi, ti));
  }
  v = block_sum(v);
  if (threadIdx.x == 0) partial[blockIdx.x] = v;
}

// Block i = row i: loss_i = logsumexp(x_i) − x_i[t_i] into row_loss[i] (0 for an ignored row), per_element and
// dx = scale·(softmax(x_i) − onehot(t_i)) (0 for an ignored row). Targets were validated on the host.
template <class T, class I>
__global__ void cross_entropy_kernel(std::int64_t classes, const T* logits, const I* target, std::int64_t ignore_index,
                                     double scale, T* dx, T* per_element, double* row_loss) {
  const std::int64_t i = blockIdx.x;
  const T* xs = logits + i * classes;
  T* ds = dx ? dx + i * classes : nullptr;
  const auto t = static_cast<std::int64_t>(target[i]);
  if (t == ignore_index) {  // the whole block takes this branch: no barrier is skipped by part of it
    if (threadIdx.x == 0) {
      row_loss[i] = 0;
      if (per_element) per_element[i] = T(0);
    }
    if (ds)
      for (std::int64_t j = threadIdx.x; j < classes; j += blockDim.x) ds[j] = T(0);
    return;
  }
  double m = -std::numeric_limits<double>::infinity();
  for (std::int64_t j = threadIdx.x; j < classes; j += blockDim.x) m = fmax(m, static_cast<double>(xs[j]));
  m = block_max(m);
  double z = 0;
  for (std::int64_t j = threadIdx.x; j < classes; j += blockDim.x) z += exp(static_cast<double>(xs[j]) - m);
  const double lse = m + log(block_sum(z));
  if (threadIdx.x == 0) {
    const double v = lse - static_cast<double>(xs[t]);
    row_loss[i] = v;
    if (per_element) per_element[i] = static_cast<T>(v);
  }
  if (ds)
    for (std::int64_t j = threadIdx.x; j < classes; j += blockDim.x)
      ds[j] = static_cast<T>(scale * (exp(static_cast<double>(xs[j]) - lse) - (j == t ? 1.0 : 0.0)));
}

}  // namespace cuda_detail

template <class Loss>
struct kernel<elementwise_loss_op<Loss>, cuda> {
  // As the cpu kernel: returns Σ loss(x[i], t[i]) (to the host, so it waits for the stream); dx[i] =
  // grad_scale·loss'(x[i], t[i]) and per_element[i] = loss(x[i], t[i]) when non-null. Pointers are device pointers.
  template <class T>
  static double run(const Loss&, std::int64_t n, const T* x, const T* target, double grad_scale, T* dx,
                    T* per_element) {
    if (n == 0) return 0.0;
    static_assert(cuda_detail::reduce_threads == cuda_detail::threads_per_block);
    const unsigned blocks = cuda_detail::blocks_for(n);
    tensor<double, cuda> partial({static_cast<std::int64_t>(blocks)});
    cuda_detail::elementwise_loss_kernel<cuda_detail::device_loss<Loss>>
        <<<blocks, cuda_detail::reduce_threads, 0, cuda_detail::stream()>>>(n, x, target, grad_scale, dx, per_element,
                                                                            partial.data());
    cuda_detail::check_launch("vae::cuda elementwise loss");
    return cuda_detail::sum_to_host(partial.data(), blocks);
  }
};

template <>
struct kernel<cross_entropy_op, cuda> {
  // As the cpu kernel. The targets (device memory) are copied to the host once to validate them and count the
  // rows that are not ignored (a range error must be a vae::error, which a kernel cannot throw).
  template <class T, class I>
  static double run(std::int64_t rows, std::int64_t classes, const T* logits, const I* target,
                    std::int64_t ignore_index, loss_reduction r, T* dx, T* per_element) {
    std::vector<I> host(static_cast<std::size_t>(rows));
    cuda::copy_to_host(host.data(), target, static_cast<std::size_t>(rows));
    std::int64_t count = 0;
    for (std::int64_t i = 0; i < rows; ++i) {
      const auto t = static_cast<std::int64_t>(host[static_cast<std::size_t>(i)]);
      if (t == ignore_index) continue;
      check(t >= 0 && t < classes, [&] {
        return cat("cross_entropy_loss: target ", t, " at position ", i, " is out of range for ", classes, " classes");
      });
      ++count;
    }
    const double scale = r == loss_reduction::mean ? 1.0 / static_cast<double>(count) : 1.0;
    double total = 0;
    if (rows > 0) {
      tensor<double, cuda> row_loss({rows});
      cuda_detail::cross_entropy_kernel<<<cuda_detail::row_blocks(rows), cuda_detail::reduce_threads, 0,
                                          cuda_detail::stream()>>>(classes, logits, target, ignore_index, scale, dx,
                                                                   per_element, row_loss.data());
      cuda_detail::check_launch("vae::cuda cross_entropy");
      total = cuda_detail::sum_to_host(row_loss.data(), rows);
    }
    if (r == loss_reduction::mean)
      return count > 0 ? total / static_cast<double>(count) : std::numeric_limits<double>::quiet_NaN();
    return total;
  }
};

}  // namespace vae
