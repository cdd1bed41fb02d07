// Conv2d op (PyTorch F.conv2d, NCHW): im2col + GEMM forward, with its backward (dx =, dW +=, db +=).
#pragma once
#include <concepts>
#include <cstdint>

#include "vae/backend/cpu.hpp"

namespace vae {

struct conv2d_op {};

// Geometry of one conv2d call. Input [n, in_c, in_h, in_w], weight [out_c, in_c/groups, k_h, k_w],
// output [n, out_c, out_h, out_w] with out = (in + 2·pad − dil·(k − 1) − 1) / stride + 1.
struct conv2d_dims {
  std::int64_t n, in_c, in_h, in_w;
  std::int64_t out_c, k_h, k_w;
  std::int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1, groups = 1;
  std::int64_t out_h = 0, out_w = 0;
  // Channels-last input [n, in_h, in_w, in_c] / output [n, out_h, out_w, out_c] instead of NCHW (host kernel only;
  // see core/memory_format.hpp).
  bool channels_last_in = false, channels_last_out = false;
  // The host kernel applies ReLU to the output (after the bias) in the pass that writes it: a conv followed by a
  // ReLU saves the activation's read and write of the whole output (Conv2d::forward_relu).
  bool relu_out = false;
  // The input is a ReLU's output and the host kernel's backward returns the gradient with respect to the ReLU's
  // input, dx·relu'(x) (x > 0 exactly where the ReLU's input was), masked in the pass that writes dx: a ReLU followed
  // by a conv saves the activation's backward pass (Conv2d::backward_relu_input).
  bool relu_in = false;
  // The host kernel may compute a channels-last 3×3 stride-1 or 4×4 stride-2 convolution through Winograd transforms
  // (backend/cpu/winograd.hpp: fewer multiplies, values equal to float rounding); false keeps the direct product.
  bool winograd = true;

  // Fills out_h/out_w from the rest (may come out ≤ 0: the caller checks).
  conv2d_dims& finish() {
    out_h = (in_h + 2 * pad_h - dil_h * (k_h - 1) - 1) / stride_h + 1;
    out_w = (in_w + 2 * pad_w - dil_w * (k_w - 1) - 1) / stride_w + 1;
    return *this;
  }
};

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
