// 2-d average pooling op (PyTorch F.avg_pool2d with count_include_pad=True, ceil_mode=False), NCHW.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"

namespace vae {

struct avg_pool2d_op {};

// planes = N·C images of h×w; square kernel k, stride s, zero padding p; out = (h + 2p − k) / s + 1.
struct avg_pool2d_dims {
  std::int64_t planes, h, w, kernel, stride, pad;
  std::int64_t out_h = 0, out_w = 0;
  avg_pool2d_dims& finish() {
    out_h = (h + 2 * pad - kernel) / stride + 1;
    out_w = (w + 2 * pad - kernel) / stride + 1;
    return *this;
  }
};

namespace ops {
// y = mean of each k×k window (padding counts as zeros in the divisor k·k, as PyTorch's default).
template <class B, class T>
void avg_pool2d_forward(const avg_pool2d_dims& d, const T* x, T* y) {
  kernel<avg_pool2d_op, B>::forward(d, x, y);
}
// dx = Σ over the windows containing each input of dy / (k·k) (written, not added).
template <class B, class T>
void avg_pool2d_backward(const avg_pool2d_dims& d, const T* dy, T* dx) {
  kernel<avg_pool2d_op, B>::backward(d, dy, dx);
}
}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/avg_pool2d.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/avg_pool2d.cuh"
#endif
