// Cases of ops/add.hpp: elementwise sum and difference (their backward is the seed, with a sign, for each input).
#pragma once
#include "../case_support.hpp"
#include "vae/ops/add.hpp"

namespace vae::op_cases {

template <bool Subtract>
struct add_case {
  static constexpr const char* op = "add_op";
  static constexpr const char* name = Subtract ? "subtract" : "add";
  static constexpr bool on_cuda = true;
  // One rounding of an exact sum (two floats add exactly in double): exact.
  static constexpr op_case_checks checks{.exact = true};
  struct config {
    std::int64_t n;
  };
  static std::vector<config> configs() { return {{29}, {1}}; }
  static std::string describe(const config& c) { return cat(c.n, " values"); }
  static op_signature signature(const config& c) {
    return {
        {{.name = "a", .numel = c.n, .grad_accumulates = true}, {.name = "b", .numel = c.n, .grad_accumulates = true}},
        {{.name = "out", .numel = c.n}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    if constexpr (Subtract)
      ops::subtract<B>(c.n, io.in(0), io.in(1), io.out(0));
    else
      ops::add<B>(c.n, io.in(0), io.in(1), io.out(0));
  }
  // da = seed; db = ±seed, through the op itself (seed + 0, 0 ∓ seed).
  template <class B, class T>
  static void backward(const config& c, op_buffers<T, B>& io) {
    ops::add<B>(c.n, io.seed(0), io.grad(0), io.grad(0));
    if constexpr (Subtract)
      ops::subtract<B>(c.n, io.grad(1), io.seed(0), io.grad(1));
    else
      ops::add<B>(c.n, io.seed(0), io.grad(1), io.grad(1));
  }
};
}  // namespace vae::op_cases
