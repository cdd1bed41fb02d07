// 2-d max pooling op (PyTorch F.max_pool2d, dilation 1, ceil_mode=False), NCHW, with the argmax kept for backward.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"

namespace vae {

struct max_pool2d_op {};

// planes = N·C images of h×w; square kernel k, stride s, padding p (padding never wins: it counts as −∞, as
// PyTorch); out = (h + 2p − k) / s + 1.
struct max_pool2d_dims {
  std::int64_t planes, h, w, kernel, stride, pad;
  std::int64_t out_h = 0, out_w = 0;
  max_pool2d_dims& finish() {
    out_h = (h + 2 * pad - kernel) / stride + 1;
    out_w = (w + 2 * pad - kernel) / stride + 1;
    return *this;
  }
};

namespace ops {
// y = max of each k×k window; argmax[o] = the winner's index a·w + b within its plane. The first maximum in
// row-major window order wins a tie and a NaN wins over any number (PyTorch's cpu and cuda kernels), so the
// gradient goes to one input per window, the one PyTorch picks.
template <class B, class T>
void max_pool2d_forward(const max_pool2d_dims& d, const T* x, T* y, std::int32_t* argmax) {
  kernel<max_pool2d_op, B>::forward(d, x, y, argmax);
}
// dx = Σ over the windows whose argmax is that input of dy (written, not added; zero where no window picked it).
template <class B, class T>
void max_pool2d_backward(const max_pool2d_dims& d, const T* dy, const std::int32_t* argmax, T* dx) {
  kernel<max_pool2d_op, B>::backward(d, dy, argmax, dx);
}
}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/max_pool2d.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/max_pool2d.cuh"
#endif
