// Cases of ops/group_norm.hpp: group normalisation (affine or not) and its backward.
#pragma once
#include "../case_support.hpp"
#include "vae/ops/group_norm.hpp"

namespace vae::op_cases {

struct group_norm_case {
  static constexpr const char* op = "group_norm_op";
  static constexpr const char* name = "group_norm";
  static constexpr bool on_cuda = true;
  // Statistics in double on both backends; float: FMA contraction and the order of the sums, a few ulps of |y| ≲ 5.
  static constexpr op_case_checks checks{.parity_float = {1e-5, 1e-4}, .parity_double = {1e-12, 1e-12}};
  struct config {
    group_norm_dims d;
    bool affine;
  };
  static std::vector<config> configs() { return {{{2, 6, 3, 5}, true}, {{3, 4, 4, 1 * 3}, false}}; }
  static std::string describe(const config& c) {
    return cat(c.d.batch, "x", c.d.channels, "x", c.d.spatial, " groups ", c.d.groups, c.affine ? " affine" : "");
  }
  static op_signature signature(const config& c) {
    const auto n = c.d.batch * c.d.channels * c.d.spatial, ch = c.affine ? c.d.channels : 0;
    const auto stats = c.d.batch * c.d.groups;
    return {{{.name = "x", .numel = n, .scale = 2},
             {.name = "weight", .numel = ch, .grad_accumulates = true},
             {.name = "bias", .numel = ch, .grad_accumulates = true}},
            {{.name = "y", .numel = n},
             {.name = "mean", .numel = stats, .differentiable = false},
             {.name = "rstd", .numel = stats, .differentiable = false}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    ops::group_norm_forward<B>(c.d, 1e-5, io.in(0), c.affine ? io.in(1) : nullptr, c.affine ? io.in(2) : nullptr,
                               io.out(0), io.out(1), io.out(2));
  }
  template <class B, class T>
  static void backward(const config& c, op_buffers<T, B>& io) {
    ops::group_norm_backward<B>(c.d, io.in(0), c.affine ? io.in(1) : nullptr, io.out(1), io.out(2), io.seed(0),
                                io.grad(0), c.affine ? io.grad(1) : nullptr, c.affine ? io.grad(2) : nullptr);
  }
};

}  // namespace vae::op_cases
