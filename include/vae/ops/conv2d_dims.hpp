// Geometry of one conv2d call (conv2d_dims): the sizes, strides, padding and dilation its kernels read.
#pragma once
#include <cstdint>

namespace vae {

// Geometry of one conv2d call. Input [n, in_c, in_h, in_w], weight [out_c, in_c/groups, k_h, k_w],
// output [n, out_c, out_h, out_w] with out = (in + 2·pad − dil·(k − 1) − 1) / stride + 1. How the activations lie in
// memory is the tensors' memory_format, passed beside it; how a backend computes the call is the backend's choice.
struct conv2d_dims {
  std::int64_t n, in_c, in_h, in_w;
  std::int64_t out_c, k_h, k_w;
  std::int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1, groups = 1;
  std::int64_t out_h = 0, out_w = 0;

  // Fills out_h/out_w from the rest (may come out ≤ 0: the caller checks).
  conv2d_dims& finish() {
    out_h = (in_h + 2 * pad_h - dil_h * (k_h - 1) - 1) / stride_h + 1;
    out_w = (in_w + 2 * pad_w - dil_w * (k_w - 1) - 1) / stride_w + 1;
    return *this;
  }
};

}  // namespace vae
