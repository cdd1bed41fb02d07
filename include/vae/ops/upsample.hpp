// Nearest-neighbour upsampling op by an integer factor (PyTorch nn.Upsample(scale_factor=s, mode="nearest")), NCHW.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"

namespace vae {

struct upsample_nearest_op {};

// planes = N·C images of h×w, each becoming (h·scale)×(w·scale).
struct upsample_dims {
  std::int64_t planes, h, w, scale;
};

namespace ops {
// y[p, i, j] = x[p, i / s, j / s]
template <class B, class T>
void upsample_nearest_forward(const upsample_dims& d, const T* x, T* y) {
  kernel<upsample_nearest_op, B>::forward(d, x, y);
}
// dx[p, i, j] = Σ of the s×s block of dy it was copied to (written, not added).
template <class B, class T>
void upsample_nearest_backward(const upsample_dims& d, const T* dy, T* dx) {
  kernel<upsample_nearest_op, B>::backward(d, dy, dx);
}
}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/upsample.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/upsample.cuh"
#endif
