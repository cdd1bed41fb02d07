// Cases of ops/causal_attention.hpp: causal multi-head attention over qkv and its backward (cpu only).
#pragma once
#include "../case_support.hpp"
#include "vae/ops/causal_attention.hpp"

namespace vae::op_cases {

struct causal_attention_case {
  static constexpr const char* op = "causal_attention_op";
  static constexpr const char* name = "causal_attention";
  static constexpr bool on_cuda = false;
  static constexpr op_case_checks checks{};
  using config = attention_dims;
  static std::vector<config> configs() { return {{2, 5, 5, 2, 3}, {1, 3, 3, 1, 1}}; }
  static std::string describe(const config& d) {
    return cat(d.batch, " x ", d.queries, " positions, ", d.heads, " heads of ", d.head_dim);
  }
  static op_signature signature(const config& d) {
    return {{{.name = "qkv", .numel = d.batch * d.queries * 3 * d.channels()}},
            {{.name = "y", .numel = d.batch * d.queries * d.channels()},
             {.name = "att", .numel = d.batch * d.heads * d.queries * d.keys, .differentiable = false}}};
  }
  template <class B, class T>
  static void forward(const config& d, op_buffers<T, B>& io) {
    ops::causal_attention_forward<B>(d, io.in(0), io.out(0), io.out(1));
  }
  template <class B, class T>
  static void backward(const config& d, op_buffers<T, B>& io) {
    ops::causal_attention_backward<B>(d, io.in(0), io.out(1), io.seed(0), io.grad(0));
  }
};

}  // namespace vae::op_cases
