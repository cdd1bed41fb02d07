// Cases of ops/max_pool2d.hpp: max pooling with its argmax (a selection: exact) and its backward.
#pragma once
#include "../case_support.hpp"
#include "vae/ops/max_pool2d.hpp"

namespace vae::op_cases {

struct max_pool2d_case {
  static constexpr const char* op = "max_pool2d_op";
  static constexpr const char* name = "max_pool2d";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks{.exact = true};
  using config = max_pool2d_dims;
  static std::vector<config> configs() {
    return {max_pool2d_dims{3, 5, 7, 2, 2, 0}.finish(), max_pool2d_dims{2, 6, 5, 3, 2, 1}.finish()};
  }
  static std::string describe(const config& d) {
    return cat(d.planes, " planes ", d.h, "x", d.w, " k", d.kernel, " s", d.stride, " p", d.pad);
  }
  static op_signature signature(const config& d) {
    const auto out = d.planes * d.out_h * d.out_w;
    return {{{.name = "x", .numel = d.planes * d.h * d.w}},
            {{.name = "y", .numel = out},
             {.name = "argmax", .numel = out, .type = element::index, .differentiable = false}}};
  }
  template <class B, class T>
  static void forward(const config& d, op_buffers<T, B>& io) {
    ops::max_pool2d_forward<B>(d, io.in(0), io.out(0), io.out_index(1));
  }
  template <class B, class T>
  static void backward(const config& d, op_buffers<T, B>& io) {
    ops::max_pool2d_backward<B>(d, io.seed(0), io.out_index(1), io.grad(0));
  }
};

}  // namespace vae::op_cases
