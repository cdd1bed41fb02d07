// cuda kernel of 2-d average pooling: one thread per output element (forward), one per input element gathering
// from the windows that contain it (backward; no atomics).
#pragma once
#include <cstdint>

#include "vae/backend/cuda.hpp"
#include "vae/ops/avg_pool2d.hpp"

namespace vae {

namespace cuda_detail {

// y = Σ of the window's in-image values · 1/(k·k) (padding counts in the divisor, as PyTorch's default).
template <class T>
__global__ void avg_pool2d_forward_kernel(avg_pool2d_dims d, const T* x, T* y) {
  const std::int64_t k = thread_index();
  if (k >= d.planes * d.out_h * d.out_w) return;
  const std::int64_t j = k % d.out_w, i = (k / d.out_w) % d.out_h, p = k / (d.out_w * d.out_h);
  const std::int64_t y0 = i * d.stride - d.pad, x0 = j * d.stride - d.pad;
  const std::int64_t ya = y0 > 0 ? y0 : 0, yb = y0 + d.kernel < d.h ? y0 + d.kernel : d.h;
  const std::int64_t xa = x0 > 0 ? x0 : 0, xb = x0 + d.kernel < d.w ? x0 + d.kernel : d.w;
  const T* in = x + p * d.h * d.w;
  T acc = 0;
  for (std::int64_t a = ya; a < yb; ++a)
    for (std::int64_t b = xa; b < xb; ++b) acc += in[a * d.w + b];
  y[k] = acc * (T(1) / static_cast<T>(d.kernel * d.kernel));
}

// Output rows i whose window [i·s − p, i·s − p + k) contains input row a: i ∈ [⌈(a + p − k + 1)/s⌉, ⌊(a + p)/s⌋]
// clipped to [0, out). (a + p ≥ 0 always.)
__device__ inline void avg_pool2d_windows(std::int64_t a, std::int64_t k, std::int64_t s, std::int64_t p,
                                          std::int64_t out, std::int64_t& lo, std::int64_t& hi) {
  const std::int64_t first = a + p - k + 1;
  lo = first <= 0 ? 0 : (first + s - 1) / s;
  hi = (a + p) / s;
  if (hi > out - 1) hi = out - 1;
}

// dx[a, b] = Σ over the windows containing (a, b) of dy · 1/(k·k).
template <class T>
__global__ void avg_pool2d_backward_kernel(avg_pool2d_dims d, const T* dy, T* dx) {
  const std::int64_t k = thread_index();
  if (k >= d.planes * d.h * d.w) return;
  const std::int64_t b = k % d.w, a = (k / d.w) % d.h, p = k / (d.w * d.h);
  std::int64_t i0, i1, j0, j1;
  avg_pool2d_windows(a, d.kernel, d.stride, d.pad, d.out_h, i0, i1);
  avg_pool2d_windows(b, d.kernel, d.stride, d.pad, d.out_w, j0, j1);
  const T* g = dy + p * d.out_h * d.out_w;
  const T scale = T(1) / static_cast<T>(d.kernel * d.kernel);
  T acc = 0;
  for (std::int64_t i = i0; i <= i1; ++i)
    for (std::int64_t j = j0; j <= j1; ++j) acc += g[i * d.out_w + j] * scale;
  dx[k] = acc;
}

}  // namespace cuda_detail

template <>
struct kernel<avg_pool2d_op, cuda> {
  template <class T>
  static void forward(const avg_pool2d_dims& d, const T* x, T* y) {
    const std::int64_t n = d.planes * d.out_h * d.out_w;
    if (n <= 0) return;
    cuda_detail::avg_pool2d_forward_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                             cuda_detail::stream()>>>(d, x, y);
    cuda_detail::check_launch("vae::cuda avg_pool2d forward");
  }
  template <class T>
  static void backward(const avg_pool2d_dims& d, const T* dy, T* dx) {
    const std::int64_t n = d.planes * d.h * d.w;
    if (n == 0) return;
    cuda_detail::avg_pool2d_backward_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                              cuda_detail::stream()>>>(d, dy, dx);
    cuda_detail::check_launch("vae::cuda avg_pool2d backward");
  }
};

}  // namespace vae
