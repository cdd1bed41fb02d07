// Cases of ops/upsample.hpp: nearest upsampling (a copy: exact) and its backward (block sums).
#pragma once
#include "../case_support.hpp"
#include "vae/ops/upsample.hpp"

namespace vae::op_cases {

struct upsample_nearest_case {
  static constexpr const char* op = "upsample_nearest_op";
  static constexpr const char* name = "upsample_nearest";
  static constexpr bool on_cuda = true;
  // The backward's block sums run in the same order on both backends.
  static constexpr op_case_checks checks{.exact = true};
  using config = upsample_dims;
  static std::vector<config> configs() { return {{3, 3, 5, 2}, {2, 2, 1, 3}}; }
  static std::string describe(const config& d) { return cat(d.planes, " planes ", d.h, "x", d.w, " scale ", d.scale); }
  static op_signature signature(const config& d) {
    return {{{.name = "x", .numel = d.planes * d.h * d.w}},
            {{.name = "y", .numel = d.planes * d.h * d.w * d.scale * d.scale}}};
  }
  template <class B, class T>
  static void forward(const config& d, op_buffers<T, B>& io) {
    ops::upsample_nearest_forward<B>(d, io.in(0), io.out(0));
  }
  template <class B, class T>
  static void backward(const config& d, op_buffers<T, B>& io) {
    ops::upsample_nearest_backward<B>(d, io.seed(0), io.grad(0));
  }
};

}  // namespace vae::op_cases
