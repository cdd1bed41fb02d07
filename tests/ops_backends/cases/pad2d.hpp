// Cases of ops/pad2d.hpp: zero padding and its backward (a crop); copies, so exact.
#pragma once
#include "../case_support.hpp"
#include "vae/ops/pad2d.hpp"

namespace vae::op_cases {

struct pad2d_case {
  static constexpr const char* op = "pad2d_op";
  static constexpr const char* name = "pad2d";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks{.exact = true};
  using config = pad2d_dims;
  static std::vector<config> configs() { return {{6, 4, 5, 0, 1, 0, 1}, {2, 3, 2, 2, 1, 3, 0}}; }
  static std::string describe(const config& d) {
    return cat(d.planes, " planes ", d.h, "x", d.w, " pads l", d.left, " r", d.right, " t", d.top, " b", d.bottom);
  }
  static op_signature signature(const config& d) {
    return {{{.name = "x", .numel = d.planes * d.h * d.w}}, {{.name = "y", .numel = d.planes * d.out_h() * d.out_w()}}};
  }
  template <class B, class T>
  static void forward(const config& d, op_buffers<T, B>& io) {
    ops::pad2d_forward<B>(d, io.in(0), io.out(0));
  }
  template <class B, class T>
  static void backward(const config& d, op_buffers<T, B>& io) {
    ops::pad2d_backward<B>(d, io.seed(0), io.grad(0));
  }
};

}  // namespace vae::op_cases
