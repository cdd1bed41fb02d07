// ConvTranspose2d op (PyTorch F.conv_transpose2d, NCHW): GEMM + col2im forward, im2col + GEMM backward.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"

namespace vae {

struct conv_transpose2d_op {};

// Geometry of one transposed convolution. Input [n, in_c, in_h, in_w], weight [in_c, out_c/groups, k_h, k_w],
// output [n, out_c, out_h, out_w] with out = (in − 1)·stride − 2·pad + dil·(k − 1) + output_padding + 1.
struct conv_transpose2d_dims {
  std::int64_t n, in_c, in_h, in_w;
  std::int64_t out_c, k_h, k_w;
  std::int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, out_pad_h = 0, out_pad_w = 0, dil_h = 1, dil_w = 1,
               groups = 1;
  std::int64_t out_h = 0, out_w = 0;
  // Channels-last input [n, in_h, in_w, in_c] / output [n, out_h, out_w, out_c] instead of NCHW (host kernel only;
  // see core/memory_format.hpp).
  bool channels_last_in = false, channels_last_out = false;
  // The host kernel applies ReLU to the output (after the bias) in the pass that writes it: a conv followed by a
  // ReLU saves the activation's read and write of the whole output (Conv2d::forward_relu).
  bool relu_out = false;
  // The input is a ReLU's output: the host kernel's backward returns dx·relu'(x) (see conv2d_dims::relu_in).
  bool relu_in = false;
  // The host kernel may compute a channels-last 3×3 stride-1 or 4×4 stride-2 convolution through Winograd transforms
  // (backend/cpu/winograd.hpp: fewer multiplies, values equal to float rounding); false keeps the direct product.
  bool winograd = true;

  conv_transpose2d_dims& finish() {
    out_h = (in_h - 1) * stride_h - 2 * pad_h + dil_h * (k_h - 1) + out_pad_h + 1;
    out_w = (in_w - 1) * stride_w - 2 * pad_w + dil_w * (k_w - 1) + out_pad_w + 1;
    return *this;
  }
};

namespace ops {
// Elements of the scratch buffer the backend's kernels need for this call.
template <class B>
std::int64_t conv_transpose2d_scratch_size(const conv_transpose2d_dims& d) {
  return kernel<conv_transpose2d_op, B>::scratch_size(d);
}
// y = conv_transpose2d(x, w) + bias (bias may be null); `work` holds conv_transpose2d_scratch_size<B>(d) elements.
template <class B, class T>
void conv_transpose2d_forward(const conv_transpose2d_dims& d, const T* x, const T* w, const T* bias, T* y, T* work) {
  kernel<conv_transpose2d_op, B>::forward(d, x, w, bias, y, work);
}
// dx = input gradient (skipped when dx is null), dw += weight gradient (skipped when null), dbias += Σ dy over
// N, H, W (skipped when null). x is the forward input; `work` holds conv_transpose2d_scratch_size<B>(d) elements.
template <class B, class T>
void conv_transpose2d_backward(const conv_transpose2d_dims& d, const T* x, const T* w, const T* dy, T* dx, T* dw,
                               T* dbias, T* work) {
  kernel<conv_transpose2d_op, B>::backward(d, x, w, dy, dx, dw, dbias, work);
}
}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/conv_transpose2d.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/conv_transpose2d.cuh"
#endif
