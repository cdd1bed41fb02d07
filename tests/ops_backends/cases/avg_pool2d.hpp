// Cases of ops/avg_pool2d.hpp: average pooling (zero padding counted in the divisor) and its backward.
#pragma once
#include "../case_support.hpp"
#include "vae/ops/avg_pool2d.hpp"

namespace vae::op_cases {

struct avg_pool2d_case {
  static constexpr const char* op = "avg_pool2d_op";
  static constexpr const char* name = "avg_pool2d";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks{.parity_float = {1e-6, 1e-5}, .parity_double = {1e-14, 1e-13}};
  using config = avg_pool2d_dims;
  static std::vector<config> configs() {
    return {avg_pool2d_dims{3, 5, 7, 2, 2, 0}.finish(), avg_pool2d_dims{2, 6, 5, 3, 2, 1}.finish()};
  }
  static std::string describe(const config& d) {
    return cat(d.planes, " planes ", d.h, "x", d.w, " k", d.kernel, " s", d.stride, " p", d.pad);
  }
  static op_signature signature(const config& d) {
    return {{{.name = "x", .numel = d.planes * d.h * d.w}}, {{.name = "y", .numel = d.planes * d.out_h * d.out_w}}};
  }
  template <class B, class T>
  static void forward(const config& d, op_buffers<T, B>& io) {
    ops::avg_pool2d_forward<B>(d, io.in(0), io.out(0));
  }
  template <class B, class T>
  static void backward(const config& d, op_buffers<T, B>& io) {
    ops::avg_pool2d_backward<B>(d, io.seed(0), io.grad(0));
  }
};

}  // namespace vae::op_cases
