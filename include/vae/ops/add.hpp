// Elementwise sum and difference of two buffers: the skip connections (Residual, ResBlock) and the quantizers'
// straight-through offsets.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"

namespace vae {

struct add_op {};  // kernel<add_op, B>: add, subtract

namespace ops {
// out[i] = a[i] + b[i] for i < n (out may alias a or b).
template <class B, class T>
void add(std::int64_t n, const T* a, const T* b, T* out) {
  kernel<add_op, B>::add(n, a, b, out);
}
// out[i] = a[i] − b[i] for i < n (out may alias a or b).
template <class B, class T>
void subtract(std::int64_t n, const T* a, const T* b, T* out) {
  kernel<add_op, B>::subtract(n, a, b, out);
}
}  // namespace ops

// cpu kernel: the loops the layers ran before the op existed (parallel over elements; each element one T operation,
// so the result does not depend on the thread count).
template <>
struct kernel<add_op, cpu> {
  template <class T>
  static void add(std::int64_t n, const T* a, const T* b, T* out) {
    parallel_for(n, n, [&](std::int64_t i) { out[i] = a[i] + b[i]; });
  }
  template <class T>
  static void subtract(std::int64_t n, const T* a, const T* b, T* out) {
    parallel_for(n, n, [&](std::int64_t i) { out[i] = a[i] - b[i]; });
  }
};

}  // namespace vae

#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/add.cuh"
#endif
