// Cases of ops/grad_norm.hpp: Σ g² in double (against the host sum), g ← c·g, and the all-finite test.
#pragma once
#include <cmath>

#include "../case_support.hpp"
#include "vae/ops/grad_norm.hpp"

namespace vae::op_cases {

// Σ g² returned to the host, with grad_scale applied to a copy and grad_all_finite's verdict (1 or 0) as outputs, so
// the three members of the op run on every backend.
struct grad_norm_case {
  static constexpr const char* op = "grad_norm_op";
  static constexpr const char* name = "grad_norm";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks{
      .reference = {1e-13, 1e-13}, .parity_float = {1e-6, 1e-6}, .parity_double = {1e-13, 1e-13}};
  struct config {
    std::int64_t n;
    double c;
  };
  static std::vector<config> configs() { return {{1000, 0.25}, {3, -1.5}}; }
  static std::string describe(const config& c) { return cat(c.n, " values, c = ", c.c); }
  static op_signature signature(const config& c) {
    return {{{.name = "g", .numel = c.n}},
            {{.name = "sum_of_squares", .numel = 1, .type = element::wide},
             {.name = "finite", .numel = 1, .type = element::wide},
             {.name = "scaled", .numel = c.n}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    io.set_out_wide(0, ops::grad_sum_of_squares<B>(c.n, io.in(0)));
    io.set_out_wide(1, ops::grad_all_finite<B>(c.n, io.in(0)) ? 1.0 : 0.0);
    B::copy(io.out(2), io.in(0), static_cast<std::size_t>(c.n));
    ops::grad_scale<B>(c.n, static_cast<T>(c.c), io.out(2));
  }
  static std::vector<std::vector<double>> reference(const config& c, const std::vector<std::vector<double>>& in) {
    double s = 0;
    std::vector<double> scaled(static_cast<std::size_t>(c.n));
    for (std::int64_t i = 0; i < c.n; ++i) {
      s += in[0][i] * in[0][i];
      scaled[static_cast<std::size_t>(i)] = c.c * in[0][i];
    }
    return {{s}, {1.0}, scaled};
  }
};

}  // namespace vae::op_cases
