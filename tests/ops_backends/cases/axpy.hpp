// Cases of ops/axpy.hpp: out = y + a·x (with its backward: dx = a·seed, dy = seed) and the double dot product.
#pragma once
#include "../case_support.hpp"
#include "vae/ops/axpy.hpp"

namespace vae::op_cases {

struct axpy_case {
  static constexpr const char* op = "axpy_op";
  static constexpr const char* name = "axpy";
  static constexpr bool on_cuda = true;
  // float: a·x + y once rounded, or twice where the compiler does not contract to an FMA: 1 ulp.
  static constexpr op_case_checks checks{.parity_float = {1e-6, 1e-6}, .parity_double = {1e-15, 1e-15}};
  struct config {
    std::int64_t n;
    double a;
  };
  static std::vector<config> configs() { return {{31, -0.75}, {1, 2.5}}; }
  static std::string describe(const config& c) { return cat(c.n, " values, a = ", c.a); }
  static op_signature signature(const config& c) {
    return {
        {{.name = "x", .numel = c.n, .grad_accumulates = true}, {.name = "y", .numel = c.n, .grad_accumulates = true}},
        {{.name = "out", .numel = c.n}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    ops::axpy<B>(c.n, c.a, io.in(0), io.in(1), io.out(0));
  }
  template <class B, class T>
  static void backward(const config& c, op_buffers<T, B>& io) {
    ops::axpy<B>(c.n, c.a, io.seed(0), io.grad(0), io.grad(0));
    ops::axpy<B>(c.n, 1.0, io.seed(0), io.grad(1), io.grad(1));
  }
};

// Σ x·y in double, returned to the host: forward only, against the host sum.
struct dot_case {
  static constexpr const char* op = "axpy_op";
  static constexpr const char* name = "dot";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks{
      .reference = {1e-13, 1e-13}, .parity_float = {1e-12, 1e-12}, .parity_double = {1e-13, 1e-13}};
  struct config {
    std::int64_t n;
  };
  static std::vector<config> configs() { return {{1000}, {3}}; }
  static std::string describe(const config& c) { return cat(c.n, " values"); }
  static op_signature signature(const config& c) {
    return {{{.name = "x", .numel = c.n}, {.name = "y", .numel = c.n}},
            {{.name = "dot", .numel = 1, .type = element::wide}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    io.set_out_wide(0, ops::dot<B>(c.n, io.in(0), io.in(1)));
  }
  static std::vector<std::vector<double>> reference(const config& c, const std::vector<std::vector<double>>& in) {
    double s = 0;
    for (std::int64_t i = 0; i < c.n; ++i) s += in[0][i] * in[1][i];
    return {{s}};
  }
};

}  // namespace vae::op_cases
