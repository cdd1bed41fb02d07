// cuda kernel of nearest upsampling: one thread per output element (forward), one per input element (backward).
#pragma once
#include <cstdint>

#include "vae/backend/cuda.hpp"
#include "vae/ops/upsample.hpp"

namespace vae {

namespace cuda_detail {

// y[p, i, j] = x[p, i / s, j / s]
template <class T>
__global__ void upsample_nearest_forward_kernel(upsample_dims d, const T* x, T* y) {
  const std::int64_t s = d.scale, ow = d.w * s, oh = d.h * s, k = thread_index();
  if (k >= d.planes * oh * ow) return;
  const std::int64_t j = k % ow, i = (k / ow) % oh, p = k / (ow * oh);
  y[k] = x[(p * d.h + i / s) * d.w + j / s];
}

// dx[p, i, j] = Σ of the s×s block of dy it was copied to, rows then columns (the cpu kernel's order).
template <class T>
__global__ void upsample_nearest_backward_kernel(upsample_dims d, const T* dy, T* dx) {
  const std::int64_t s = d.scale, ow = d.w * s, k = thread_index();
  if (k >= d.planes * d.h * d.w) return;
  const std::int64_t j = k % d.w, i = (k / d.w) % d.h, p = k / (d.w * d.h);
  const T* in = dy + p * d.h * s * ow;
  T acc = 0;
  for (std::int64_t a = 0; a < s; ++a)
    for (std::int64_t b = 0; b < s; ++b) acc += in[(i * s + a) * ow + j * s + b];
  dx[k] = acc;
}

}  // namespace cuda_detail

template <>
struct kernel<upsample_nearest_op, cuda> {
  template <class T>
  static void forward(const upsample_dims& d, const T* x, T* y) {
    const std::int64_t n = d.planes * d.h * d.scale * d.w * d.scale;
    if (n == 0) return;
    cuda_detail::upsample_nearest_forward_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                                   cuda_detail::stream()>>>(d, x, y);
    cuda_detail::check_launch("vae::cuda upsample_nearest forward");
  }
  template <class T>
  static void backward(const upsample_dims& d, const T* dy, T* dx) {
    const std::int64_t n = d.planes * d.h * d.w;
    if (n == 0) return;
    cuda_detail::upsample_nearest_backward_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                                    cuda_detail::stream()>>>(d, dy, dx);
    cuda_detail::check_launch("vae::cuda upsample_nearest backward");
  }
};

}  // namespace vae
