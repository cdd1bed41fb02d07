// Geometry of one conv_transpose2d call (conv_transpose2d_dims): the sizes, strides and padding its kernels read.
#pragma once
#include <cstdint>

namespace vae {

// Geometry of one transposed convolution. Input [n, in_c, in_h, in_w], weight [in_c, out_c/groups, k_h, k_w],
// output [n, out_c, out_h, out_w] with out = (in − 1)·stride − 2·pad + dil·(k − 1) + output_padding + 1 (the
// activations' layout is passed beside it, as for conv2d_dims).
struct conv_transpose2d_dims {
  std::int64_t n, in_c, in_h, in_w;
  std::int64_t out_c, k_h, k_w;
  std::int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, out_pad_h = 0, out_pad_w = 0, dil_h = 1, dil_w = 1,
               groups = 1;
  std::int64_t out_h = 0, out_w = 0;

  conv_transpose2d_dims& finish() {
    out_h = (in_h - 1) * stride_h - 2 * pad_h + dil_h * (k_h - 1) + out_pad_h + 1;
    out_w = (in_w - 1) * stride_w - 2 * pad_w + dil_w * (k_w - 1) + out_pad_w + 1;
    return *this;
  }
};

}  // namespace vae
