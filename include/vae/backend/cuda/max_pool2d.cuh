// cuda kernel of 2-d max pooling: one thread per output element (forward, keeping the argmax), one per input
// element gathering dy from the windows that picked it (backward; no atomics, the cpu kernel's order of additions).
#pragma once
#include <cstdint>

#include "vae/backend/cuda.hpp"
#include "vae/ops/max_pool2d.hpp"

namespace vae {

namespace cuda_detail {

// The first maximum in row-major window order; a NaN wins (as the cpu kernel and PyTorch).
template <class T>
__global__ void max_pool2d_forward_kernel(max_pool2d_dims d, const T* x, T* y, std::int32_t* argmax) {
  const std::int64_t k = thread_index();
  if (k >= d.planes * d.out_h * d.out_w) return;
  const std::int64_t j = k % d.out_w, i = (k / d.out_w) % d.out_h, p = k / (d.out_w * d.out_h);
  const std::int64_t y0 = i * d.stride - d.pad, x0 = j * d.stride - d.pad;
  const std::int64_t ya = y0 > 0 ? y0 : 0, yb = y0 + d.kernel < d.h ? y0 + d.kernel : d.h;
  const std::int64_t xa = x0 > 0 ? x0 : 0, xb = x0 + d.kernel < d.w ? x0 + d.kernel : d.w;
  const T* in = x + p * d.h * d.w;
  std::int64_t best = ya * d.w + xa;
  T m = in[best];
  for (std::int64_t a = ya; a < yb; ++a)
    for (std::int64_t b = xa; b < xb; ++b) {
      const T v = in[a * d.w + b];
      if (v > m || (v != v && m == m)) {
        m = v;
        best = a * d.w + b;
      }
    }
  y[k] = m;
  argmax[k] = static_cast<std::int32_t>(best);
}

// Output rows i whose window [i·s − p, i·s − p + k) contains input row a, clipped to [0, out).
__device__ inline void max_pool2d_windows(std::int64_t a, std::int64_t k, std::int64_t s, std::int64_t p,
                                          std::int64_t out, std::int64_t& lo, std::int64_t& hi) {
  const std::int64_t first = a + p - k + 1;
  lo = first <= 0 ? 0 : (first + s - 1) / s;
  hi = (a + p) / s;
  if (hi > out - 1) hi = out - 1;
}

// dx[a, b] = Σ over the windows containing (a, b) whose argmax is (a, b) of dy, in output order (as the cpu's
// scatter adds them).
template <class T>
__global__ void max_pool2d_backward_kernel(max_pool2d_dims d, const T* dy, const std::int32_t* argmax, T* dx) {
  const std::int64_t k = thread_index();
  if (k >= d.planes * d.h * d.w) return;
  const std::int64_t b = k % d.w, a = (k / d.w) % d.h, p = k / (d.w * d.h);
  std::int64_t i0, i1, j0, j1;
  max_pool2d_windows(a, d.kernel, d.stride, d.pad, d.out_h, i0, i1);
  max_pool2d_windows(b, d.kernel, d.stride, d.pad, d.out_w, j0, j1);
  const T* g = dy + p * d.out_h * d.out_w;
  const std::int32_t* arg = argmax + p * d.out_h * d.out_w;
  const std::int32_t self = static_cast<std::int32_t>(a * d.w + b);
  T acc = 0;
  for (std::int64_t i = i0; i <= i1; ++i)
    for (std::int64_t j = j0; j <= j1; ++j)
      if (arg[i * d.out_w + j] == self) acc += g[i * d.out_w + j];
  dx[k] = acc;
}

}  // namespace cuda_detail

template <>
struct kernel<max_pool2d_op, cuda> {
  template <class T>
  static void forward(const max_pool2d_dims& d, const T* x, T* y, std::int32_t* argmax) {
    const std::int64_t n = d.planes * d.out_h * d.out_w;
    if (n <= 0) return;
    cuda_detail::max_pool2d_forward_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                             cuda_detail::stream()>>>(d, x, y, argmax);
    cuda_detail::check_launch("vae::cuda max_pool2d forward");
  }
  template <class T>
  static void backward(const max_pool2d_dims& d, const T* dy, const std::int32_t* argmax, T* dx) {
    const std::int64_t n = d.planes * d.h * d.w;
    if (n == 0) return;
    cuda_detail::max_pool2d_backward_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                              cuda_detail::stream()>>>(d, dy, argmax, dx);
    cuda_detail::check_launch("vae::cuda max_pool2d backward");
  }
};

}  // namespace vae
