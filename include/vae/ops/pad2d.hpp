// Zero padding of NCHW planes (PyTorch F.pad(x, (left, right, top, bottom)) with value 0), with its backward (a crop).
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"

namespace vae {

struct pad2d_op {};

// planes = N·C images of h×w, each becoming (top + h + bottom)×(left + w + right); all pads ≥ 0.
struct pad2d_dims {
  std::int64_t planes, h, w;
  std::int64_t left = 0, right = 0, top = 0, bottom = 0;
  std::int64_t out_h() const { return top + h + bottom; }
  std::int64_t out_w() const { return left + w + right; }
};

namespace ops {
// y = x surrounded by zeros (written whole).
template <class B, class T>
void pad2d_forward(const pad2d_dims& d, const T* x, T* y) {
  kernel<pad2d_op, B>::forward(d, x, y);
}
// dx = the h×w window of dy that x was copied to (written, not added).
template <class B, class T>
void pad2d_backward(const pad2d_dims& d, const T* dy, T* dx) {
  kernel<pad2d_op, B>::backward(d, dy, dx);
}
}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/pad2d.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/pad2d.cuh"
#endif
