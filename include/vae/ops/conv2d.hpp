// Conv2d op (PyTorch F.conv2d, NCHW): im2col + GEMM forward, with its backward (dx =, dW +=, db +=).
#pragma once
#include <concepts>
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/ops/conv2d_dims.hpp"

namespace vae {

struct conv2d_op {};

namespace ops {
// Elements of the scratch buffer the backend's kernels need for this call (the cpu kernel: per-thread columns).
template <class B>
std::int64_t conv2d_scratch_size(const conv2d_dims& d) {
  return kernel<conv2d_op, B>::scratch_size(d);
}
// y = conv2d(x, w) + bias (bias may be null); `scratch` holds conv2d_scratch_size<B>(d) elements.
template <class B, class T>
void conv2d_forward(const conv2d_dims& d, const T* x, const T* w, const T* bias, T* y, T* scratch) {
  kernel<conv2d_op, B>::forward(d, x, w, bias, y, scratch);
}
// y = residual + (conv2d(x, w) + bias), residual laid out as y (host only: a residual block's skip connection added
// where the output is written; bit for bit the conv then the addition).
template <class B, class T>
  requires std::same_as<B, cpu>
void conv2d_forward_add(const conv2d_dims& d, const T* x, const T* w, const T* bias, const T* residual, T* y,
                        T* scratch) {
  kernel<conv2d_op, B>::forward_add(d, x, w, bias, residual, y, scratch);
}
// dx = input gradient (skipped when dx is null), dw += weight gradient (skipped when null), dbias += Σ dy over
// N, H, W (skipped when null). x is the forward input; `scratch` holds conv2d_scratch_size<B>(d) elements.
template <class B, class T>
void conv2d_backward(const conv2d_dims& d, const T* x, const T* w, const T* dy, T* dx, T* dw, T* dbias, T* scratch) {
  kernel<conv2d_op, B>::backward(d, x, w, dy, dx, dw, dbias, scratch);
}
// The same with dx = residual + (input gradient), residual laid out as x (host only: a residual block's skip
// connection added where its input gradient is written; bit for bit the backward then the addition).
template <class B, class T>
  requires std::same_as<B, cpu>
void conv2d_backward_add(const conv2d_dims& d, const T* x, const T* w, const T* dy, const T* residual, T* dx, T* dw,
                         T* dbias, T* scratch) {
  kernel<conv2d_op, B>::backward(d, x, w, dy, dx, dw, dbias, scratch, kernel<conv2d_op, B>::path_for(d), residual);
}
}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/conv2d.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/conv2d.cuh"
#endif
