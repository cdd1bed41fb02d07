// cuda kernel of zero padding: one thread per output element (forward), one per input element (backward).
#pragma once
#include <cstdint>

#include "vae/backend/cuda.hpp"
#include "vae/ops/pad2d.hpp"

namespace vae {

namespace cuda_detail {

template <class T>
__global__ void pad2d_forward_kernel(pad2d_dims d, const T* x, T* y) {
  const std::int64_t oh = d.top + d.h + d.bottom, ow = d.left + d.w + d.right, k = thread_index();
  if (k >= d.planes * oh * ow) return;
  const std::int64_t j = k % ow - d.left, i = (k / ow) % oh - d.top, p = k / (ow * oh);
  y[k] = (i >= 0 && i < d.h && j >= 0 && j < d.w) ? x[(p * d.h + i) * d.w + j] : T(0);
}

template <class T>
__global__ void pad2d_backward_kernel(pad2d_dims d, const T* dy, T* dx) {
  const std::int64_t oh = d.top + d.h + d.bottom, ow = d.left + d.w + d.right, k = thread_index();
  if (k >= d.planes * d.h * d.w) return;
  const std::int64_t j = k % d.w, i = (k / d.w) % d.h, p = k / (d.w * d.h);
  dx[k] = dy[(p * oh + i + d.top) * ow + d.left + j];
}

}  // namespace cuda_detail

template <>
struct kernel<pad2d_op, cuda> {
  template <class T>
  static void forward(const pad2d_dims& d, const T* x, T* y) {
    const std::int64_t n = d.planes * d.out_h() * d.out_w();
    if (n == 0) return;
    cuda_detail::pad2d_forward_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                        cuda_detail::stream()>>>(d, x, y);
    cuda_detail::check_launch("vae::cuda pad2d forward");
  }
  template <class T>
  static void backward(const pad2d_dims& d, const T* dy, T* dx) {
    const std::int64_t n = d.planes * d.h * d.w;
    if (n == 0) return;
    cuda_detail::pad2d_backward_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                         cuda_detail::stream()>>>(d, dy, dx);
    cuda_detail::check_launch("vae::cuda pad2d backward");
  }
};

}  // namespace vae
