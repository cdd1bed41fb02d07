// cuda kernels of the gradient-norm op: Σ g² as the axpy op's dot, the scale one thread per element, the finite test
// as a count of non-finite values.
#pragma once
#include <cstdint>

#include "vae/backend/cuda.hpp"
#include "vae/backend/cuda/axpy.cuh"
#include "vae/core/tensor.hpp"
#include "vae/ops/grad_norm.hpp"

namespace vae {

namespace cuda_detail {

// Thread i < n: g[i] ← c·g[i].
template <class T>
__global__ void grad_scale_kernel(std::int64_t n, T c, T* g) {
  const std::int64_t i = thread_index();
  if (i < n) g[i] *= c;
}

// Thread i < n: *count += 1 where g[i] is NaN or ±inf (g·0 is 0 exactly for finite g).
template <class T>
__global__ void nonfinite_count_kernel(std::int64_t n, const T* g, unsigned long long* count) {
  const std::int64_t i = thread_index();
  if (i < n && !(g[i] * T(0) == T(0))) atomicAdd(count, 1ULL);
}

}  // namespace cuda_detail

template <>
struct kernel<grad_norm_op, cuda> {
  // Returns to the host (waits for the stream).
  template <class T>
  static double sum_of_squares(std::int64_t n, const T* g) {
    return kernel<axpy_op, cuda>::dot(n, g, g);
  }
  template <class T>
  static void scale(std::int64_t n, T c, T* g) {
    if (n == 0) return;
    cuda_detail::grad_scale_kernel<T><<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                        cuda_detail::stream()>>>(n, c, g);
    cuda_detail::check_launch("vae::cuda grad_scale");
  }
  // Returns to the host (waits for the stream).
  template <class T>
  static bool all_finite(std::int64_t n, const T* g) {
    if (n == 0) return true;
    tensor<unsigned long long, cuda> count({1});
    count.zero();
    cuda_detail::nonfinite_count_kernel<T><<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                             cuda_detail::stream()>>>(n, g, count.data());
    cuda_detail::check_launch("vae::cuda nonfinite_count");
    unsigned long long host = 0;
    cuda::copy_to_host(&host, count.data(), 1);
    return host == 0;
  }
};

}  // namespace vae
