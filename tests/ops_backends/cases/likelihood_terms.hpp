// Cases of ops/likelihood_terms.hpp: Bernoulli (logits) and fixed-variance Gaussian −log p per row with their
// gradients in the decoder output, and the Bernoulli mean.
#pragma once
#include <cmath>

#include "../case_support.hpp"
#include "vae/ops/likelihood_terms.hpp"

namespace vae::op_cases {

struct likelihood_config {
  std::int64_t rows, p;
};

// Gaussian: variance c = 0.7.
template <bool Gaussian>
struct likelihood_case {
  static constexpr const char* op = Gaussian ? "gaussian_likelihood_op" : "bernoulli_likelihood_op";
  static constexpr const char* name = Gaussian ? "gaussian_nll" : "bernoulli_nll";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks{.parity_float = {1e-5, 1e-6}, .parity_double = {1e-12, 1e-12}};
  using config = likelihood_config;
  static std::vector<config> configs() { return {{3, 17}, {1, 1}}; }
  static std::string describe(const config& c) { return cat(c.rows, " rows of ", c.p); }
  static op_signature signature(const config& c) {
    const auto n = c.rows * c.p;
    return {{{.name = "out", .numel = n, .scale = 2},
             {.name = "x", .numel = n, .how = fill::probability, .differentiable = false}},
            {{.name = "per_row", .numel = c.rows, .type = element::wide}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    if constexpr (Gaussian)
      ops::gaussian_nll<B>(c.rows, c.p, 0.7, io.in(0), io.in(1), io.out_wide(0));
    else
      ops::bernoulli_nll<B>(c.rows, c.p, io.in(0), io.in(1), io.out_wide(0));
  }
  template <class B, class T>
  static void backward(const config& c, op_buffers<T, B>& io) {
    if constexpr (Gaussian)
      ops::gaussian_nll_backward<B>(c.rows, c.p, 0.7, io.in(0), io.in(1), io.seed_wide(0), io.grad(0));
    else
      ops::bernoulli_nll_backward<B>(c.rows, c.p, io.in(0), io.in(1), io.seed_wide(0), io.grad(0));
  }
};

// The value and its gradient in one pass (the cpu kernel's fused loop; other backends run the two calls).
struct bernoulli_nll_fused_case {
  static constexpr const char* op = "bernoulli_likelihood_op";
  static constexpr const char* name = "bernoulli_nll_and_backward";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks = likelihood_case<false>::checks;
  using config = likelihood_config;
  static std::vector<config> configs() { return likelihood_case<false>::configs(); }
  static std::string describe(const config& c) { return likelihood_case<false>::describe(c); }
  static op_signature signature(const config& c) { return likelihood_case<false>::signature(c); }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    tensor<double, B> weight(shape{c.rows}, 1.0);
    tensor<T, B> d_out(shape{c.rows * c.p});
    ops::bernoulli_nll_and_backward<B>(c.rows, c.p, io.in(0), io.in(1), weight.data(), io.out_wide(0), d_out.data());
  }
  template <class B, class T>
  static void backward(const config& c, op_buffers<T, B>& io) {
    tensor<double, B> per_row(shape{c.rows});
    ops::bernoulli_nll_and_backward<B>(c.rows, c.p, io.in(0), io.in(1), io.seed_wide(0), per_row.data(), io.grad(0));
  }
};

struct bernoulli_mean_case {
  static constexpr const char* op = "bernoulli_likelihood_op";
  static constexpr const char* name = "bernoulli_mean";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks{
      .reference = {1e-15, 1e-14}, .parity_float = {1e-7, 1e-6}, .parity_double = {1e-15, 1e-14}};
  using config = likelihood_config;
  static std::vector<config> configs() { return {{1, 23}}; }
  static std::string describe(const config& c) { return cat(c.p, " values"); }
  static op_signature signature(const config& c) {
    return {{{.name = "out", .numel = c.p, .scale = 3}}, {{.name = "pixels", .numel = c.p}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    ops::bernoulli_mean<B>(c.p, io.in(0), io.out(0));
  }
  static std::vector<std::vector<double>> reference(const config&, const std::vector<std::vector<double>>& in) {
    std::vector<double> out(in[0].size());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = 1.0 / (1.0 + std::exp(-in[0][i]));
    return {out};
  }
};

}  // namespace vae::op_cases
