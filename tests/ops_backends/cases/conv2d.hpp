// Cases of ops/conv2d.hpp and ops/conv_transpose2d.hpp: forward and backward (x, weight, bias) over strides,
// padding, dilation, groups and output padding, at odd sizes.
#pragma once
#include "../case_support.hpp"
#include "vae/ops/conv2d.hpp"
#include "vae/ops/conv_transpose2d.hpp"

namespace vae::op_cases {

// float: each output a sum of in_c/groups·k² ≤ 27 products (forward, dx) or n·out_h·out_w ≤ ~100 (dw), in cuBLAS's
// order against the cpu GEMM's (or Winograd's), |values| ≲ 10: a few float ulps each. double: 1e-11.
inline constexpr op_case_checks conv_checks{.parity_float = {1e-4, 1e-4}, .parity_double = {1e-11, 1e-11}};

struct conv2d_case {
  static constexpr const char* op = "conv2d_op";
  static constexpr const char* name = "conv2d";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks = conv_checks;
  using config = conv2d_dims;
  static std::vector<config> configs() {
    std::vector<config> c;
    c.push_back(conv2d_dims{2, 3, 6, 5, 4, 3, 3}.finish());                       // 3x3 stride 1
    c.push_back(conv2d_dims{1, 4, 7, 7, 6, 3, 2, 2, 1, 1, 0, 1, 1, 2}.finish());  // stride, pad, groups
    c.push_back(conv2d_dims{2, 2, 7, 6, 3, 3, 3, 1, 1, 2, 2, 2, 2}.finish());     // dilation
    return c;
  }
  static std::string describe(const config& d) {
    return cat(d.n, "x", d.in_c, "x", d.in_h, "x", d.in_w, " -> ", d.out_c, " k", d.k_h, "x", d.k_w, " s", d.stride_h,
               ",", d.stride_w, " p", d.pad_h, ",", d.pad_w, " d", d.dil_h, " g", d.groups);
  }
  static op_signature signature(const config& d) {
    return {{{.name = "x", .numel = d.n * d.in_c * d.in_h * d.in_w},
             {.name = "weight",
              .numel = d.out_c * (d.in_c / d.groups) * d.k_h * d.k_w,
              .scale = 0.5,
              .grad_accumulates = true},
             {.name = "bias", .numel = d.out_c, .grad_accumulates = true}},
            {{.name = "y", .numel = d.n * d.out_c * d.out_h * d.out_w}}};
  }
  template <class B, class T>
  static void forward(const config& d, op_buffers<T, B>& io) {
    tensor<T, B> scratch(shape{ops::conv2d_scratch_size<B>(d)});
    ops::conv2d_forward<B>(d, io.in(0), io.in(1), io.in(2), io.out(0), scratch.data());
  }
  template <class B, class T>
  static void backward(const config& d, op_buffers<T, B>& io) {
    tensor<T, B> scratch(shape{ops::conv2d_scratch_size<B>(d)});
    ops::conv2d_backward<B>(d, io.in(0), io.in(1), io.seed(0), io.grad(0), io.grad(1), io.grad(2), scratch.data());
  }
};

struct conv_transpose2d_case {
  static constexpr const char* op = "conv_transpose2d_op";
  static constexpr const char* name = "conv_transpose2d";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks = conv_checks;
  using config = conv_transpose2d_dims;
  static std::vector<config> configs() {
    std::vector<config> c;
    c.push_back(conv_transpose2d_dims{2, 3, 4, 5, 2, 3, 3}.finish());
    c.push_back(conv_transpose2d_dims{1, 4, 3, 4, 6, 4, 3, 2, 2, 1, 1, 1, 0, 1, 1, 2}.finish());  // output padding
    c.push_back(conv_transpose2d_dims{2, 2, 3, 3, 3, 3, 3, 1, 2, 1, 0, 0, 1, 2, 1, 1}.finish());  // dilation
    return c;
  }
  static std::string describe(const config& d) {
    return cat(d.n, "x", d.in_c, "x", d.in_h, "x", d.in_w, " -> ", d.out_c, " k", d.k_h, "x", d.k_w, " s", d.stride_h,
               ",", d.stride_w, " p", d.pad_h, ",", d.pad_w, " op", d.out_pad_h, ",", d.out_pad_w, " d", d.dil_h, ",",
               d.dil_w, " g", d.groups);
  }
  static op_signature signature(const config& d) {
    return {{{.name = "x", .numel = d.n * d.in_c * d.in_h * d.in_w},
             {.name = "weight",
              .numel = d.in_c * (d.out_c / d.groups) * d.k_h * d.k_w,
              .scale = 0.5,
              .grad_accumulates = true},
             {.name = "bias", .numel = d.out_c, .grad_accumulates = true}},
            {{.name = "y", .numel = d.n * d.out_c * d.out_h * d.out_w}}};
  }
  template <class B, class T>
  static void forward(const config& d, op_buffers<T, B>& io) {
    tensor<T, B> work(shape{ops::conv_transpose2d_scratch_size<B>(d)});
    ops::conv_transpose2d_forward<B>(d, io.in(0), io.in(1), io.in(2), io.out(0), work.data());
  }
  template <class B, class T>
  static void backward(const config& d, op_buffers<T, B>& io) {
    tensor<T, B> work(shape{ops::conv_transpose2d_scratch_size<B>(d)});
    ops::conv_transpose2d_backward<B>(d, io.in(0), io.in(1), io.seed(0), io.grad(0), io.grad(1), io.grad(2),
                                      work.data());
  }
};

}  // namespace vae::op_cases
