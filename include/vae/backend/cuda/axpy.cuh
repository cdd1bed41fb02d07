// cuda kernels of the axpy op: one thread per element (axpy, divide); dot as per-block double partial sums, then one block.
#pragma once
#include <cstdint>

#include "vae/backend/cuda.hpp"
#include "vae/backend/cuda/reduce.cuh"
#include "vae/ops/axpy.hpp"

namespace vae {

namespace cuda_detail {

// Thread i < n: out[i] = y[i] + a·x[i].
template <class T>
__global__ void axpy_kernel(std::int64_t n, T a, const T* x, const T* y, T* out) {
  const std::int64_t i = thread_index();
  if (i >= n) return;
  out[i] = y[i] + a * x[i];
}

// Thread i < n: out[i] = x[i] / divisor, in double.
template <class T>
__global__ void divide_kernel(std::int64_t n, const T* x, double divisor, T* out) {
  const std::int64_t i = thread_index();
  if (i >= n) return;
  out[i] = static_cast<T>(static_cast<double>(x[i]) / divisor);
}

// partial[blockIdx.x] = Σ x[i]·y[i] over the block's elements, in double. Every thread reaches the block sum.
template <class T>
__global__ void dot_kernel(std::int64_t n, const T* x, const T* y, double* partial) {
  const std::int64_t i = thread_index();
  double v = i < n ? static_cast<double>(x[i]) * static_cast<double>(y[i]) : 0.0;
  v = block_sum(v);
  if (threadIdx.x == 0) partial[blockIdx.x] = v;
}

}  // namespace cuda_detail

template <>
struct kernel<axpy_op, cuda> {
  template <class T>
  static void axpy(std::int64_t n, T a, const T* x, const T* y, T* out) {
    if (n == 0) return;
    cuda_detail::axpy_kernel<T><<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                  cuda_detail::stream()>>>(n, a, x, y, out);
    cuda_detail::check_launch("vae::cuda axpy");
  }
  template <class T>
  static void divide(std::int64_t n, const T* x, double divisor, T* out) {
    if (n == 0) return;
    cuda_detail::divide_kernel<T><<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                    cuda_detail::stream()>>>(n, x, divisor, out);
    cuda_detail::check_launch("vae::cuda divide");
  }
  // Returns to the host (waits for the stream).
  template <class T>
  static double dot(std::int64_t n, const T* x, const T* y) {
    if (n == 0) return 0.0;
    static_assert(cuda_detail::reduce_threads == cuda_detail::threads_per_block);
    const unsigned blocks = cuda_detail::blocks_for(n);
    tensor<double, cuda> partial({static_cast<std::int64_t>(blocks)});
    cuda_detail::dot_kernel<T><<<blocks, cuda_detail::reduce_threads, 0, cuda_detail::stream()>>>(n, x, y,
                                                                                                partial.data());
    cuda_detail::check_launch("vae::cuda dot");
    return cuda_detail::sum_to_host(partial.data(), blocks);
  }
};

}  // namespace vae
