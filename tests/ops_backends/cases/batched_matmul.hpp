// Cases of ops/batched_matmul.hpp: C = α·op(A)·op(B) + β·C for every transposition, against the host product.
#pragma once
#include "../case_support.hpp"
#include "vae/ops/batched_matmul.hpp"

namespace vae::op_cases {

struct batched_matmul_case {
  static constexpr const char* op = "batched_matmul_op";
  static constexpr const char* name = "batched_matmul";
  static constexpr bool on_cuda = true;
  // float: cuBLAS and the cpu GEMM sum the k ≤ 9 products in other orders (cuBLAS may use FMA).
  static constexpr op_case_checks checks{
      .reference = {1e-13, 1e-12}, .parity_float = {1e-5, 1e-5}, .parity_double = {1e-12, 1e-12}};
  struct config {
    batched_matmul_dims d;
    double alpha, beta;
  };
  static std::vector<config> configs() {
    return {{{3, 4, 5, 6, false, false}, 1.0, 0.0},
            {{2, 3, 7, 5, true, false}, 0.5, 1.0},
            {{2, 5, 3, 4, false, true}, 1.0, -0.5},
            {{1, 1, 6, 9, true, true}, 2.0, 0.25}};
  }
  static std::string describe(const config& c) {
    return cat(c.d.batch, " x [", c.d.m, "x", c.d.k, "]·[", c.d.k, "x", c.d.n, "]", c.d.trans_a ? " Aᵀ" : "",
               c.d.trans_b ? " Bᵀ" : "", " alpha ", c.alpha, " beta ", c.beta);
  }
  static op_signature signature(const config& c) {
    const auto& d = c.d;
    return {{{.name = "a", .numel = d.batch * d.m * d.k},
             {.name = "b", .numel = d.batch * d.k * d.n},
             {.name = "c0", .numel = d.batch * d.m * d.n}},
            {{.name = "c", .numel = d.batch * d.m * d.n}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    B::copy(io.out(0), io.in(2), static_cast<std::size_t>(c.d.batch * c.d.m * c.d.n));
    ops::batched_matmul<B>(c.d, static_cast<T>(c.alpha), io.in(0), io.in(1), static_cast<T>(c.beta), io.out(0));
  }
  static std::vector<std::vector<double>> reference(const config& c, const std::vector<std::vector<double>>& in) {
    const auto& d = c.d;
    std::vector<double> out(static_cast<std::size_t>(d.batch * d.m * d.n));
    for (std::int64_t b = 0; b < d.batch; ++b)
      for (std::int64_t i = 0; i < d.m; ++i)
        for (std::int64_t j = 0; j < d.n; ++j) {
          double s = 0;
          for (std::int64_t p = 0; p < d.k; ++p) {
            const double a = in[0][b * d.m * d.k + (d.trans_a ? p * d.m + i : i * d.k + p)];
            const double bb = in[1][b * d.k * d.n + (d.trans_b ? j * d.k + p : p * d.n + j)];
            s += a * bb;
          }
          const auto o = b * d.m * d.n + i * d.n + j;
          out[o] = c.alpha * s + c.beta * in[2][o];
        }
    return {out};
  }
};

}  // namespace vae::op_cases
