// Gradient-norm op: Σ g² (in double), g ← c·g and an all-finite test over a flat gradient buffer (clip_grad_norm).
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"

namespace vae {

struct grad_norm_op {};  // kernel<grad_norm_op, B>: sum_of_squares, scale, all_finite

namespace ops {
// Σ_{i<n} g[i]² accumulated in double, the same value for any thread count; the result comes back to the host.
template <class B, class T>
double grad_sum_of_squares(std::int64_t n, const T* g) {
  return kernel<grad_norm_op, B>::sum_of_squares(n, g);
}
// g[i] ← c·g[i] for i < n, in T.
template <class B, class T>
void grad_scale(std::int64_t n, T c, T* g) {
  kernel<grad_norm_op, B>::scale(n, c, g);
}
// True when every g[i], i < n, is finite (no NaN, no ±inf); the result comes back to the host.
template <class B, class T>
bool grad_all_finite(std::int64_t n, const T* g) {
  return kernel<grad_norm_op, B>::all_finite(n, g);
}
}  // namespace ops

}  // namespace vae

#include "vae/backend/cpu/grad_norm.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/grad_norm.cuh"
#endif
