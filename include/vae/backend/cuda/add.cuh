// cuda kernel of the elementwise sum/difference op: one thread per element.
#pragma once
#include <cstdint>

#include "vae/backend/cuda.hpp"
#include "vae/ops/add.hpp"

namespace vae {

namespace cuda_detail {

// Thread i < n: out[i] = a[i] + b[i] (Subtract: a[i] − b[i]).
template <bool Subtract, class T>
__global__ void add_kernel(std::int64_t n, const T* a, const T* b, T* out) {
  const std::int64_t i = thread_index();
  if (i >= n) return;
  out[i] = Subtract ? a[i] - b[i] : a[i] + b[i];
}

}  // namespace cuda_detail

template <>
struct kernel<add_op, cuda> {
  template <class T>
  static void add(std::int64_t n, const T* a, const T* b, T* out) {
    if (n == 0) return;
    cuda_detail::add_kernel<false, T><<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                       cuda_detail::stream()>>>(n, a, b, out);
    cuda_detail::check_launch("vae::cuda add");
  }
  template <class T>
  static void subtract(std::int64_t n, const T* a, const T* b, T* out) {
    if (n == 0) return;
    cuda_detail::add_kernel<true, T><<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                      cuda_detail::stream()>>>(n, a, b, out);
    cuda_detail::check_launch("vae::cuda subtract");
  }
};

}  // namespace vae
