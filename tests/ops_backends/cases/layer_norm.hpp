// Cases of ops/layer_norm.hpp: layer normalisation over the last dimension (affine or not) and its backward.
#pragma once
#include "../case_support.hpp"
#include "vae/ops/layer_norm.hpp"

namespace vae::op_cases {

struct layer_norm_case {
  static constexpr const char* op = "layer_norm_op";
  static constexpr const char* name = "layer_norm";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks{.parity_float = {1e-5, 1e-4}, .parity_double = {1e-12, 1e-12}};
  struct config {
    layer_norm_dims d;
    bool affine;
  };
  static std::vector<config> configs() { return {{{5, 7}, true}, {{3, 33}, false}}; }
  static std::string describe(const config& c) {
    return cat(c.d.rows, " rows of ", c.d.features, c.affine ? " affine" : "");
  }
  static op_signature signature(const config& c) {
    const auto n = c.d.rows * c.d.features, f = c.affine ? c.d.features : 0;
    return {{{.name = "x", .numel = n, .scale = 2},
             {.name = "weight", .numel = f, .grad_accumulates = true},
             {.name = "bias", .numel = f, .grad_accumulates = true}},
            {{.name = "y", .numel = n},
             {.name = "mean", .numel = c.d.rows, .differentiable = false},
             {.name = "rstd", .numel = c.d.rows, .differentiable = false}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    ops::layer_norm_forward<B>(c.d, 1e-5, io.in(0), c.affine ? io.in(1) : nullptr, c.affine ? io.in(2) : nullptr,
                               io.out(0), io.out(1), io.out(2));
  }
  template <class B, class T>
  static void backward(const config& c, op_buffers<T, B>& io) {
    ops::layer_norm_backward<B>(c.d, io.in(0), c.affine ? io.in(1) : nullptr, io.out(1), io.out(2), io.seed(0),
                                io.grad(0), c.affine ? io.grad(1) : nullptr, c.affine ? io.grad(2) : nullptr);
  }
};

}  // namespace vae::op_cases
