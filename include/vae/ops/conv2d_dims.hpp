// Geometry of one conv2d call (conv2d_dims): the sizes, strides, padding and dilation its kernels read.
#pragma once
#include <cstdint>

namespace vae {

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

}  // namespace vae
