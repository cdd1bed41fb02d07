// BernoulliLikelihood: the decoder emits logits; −log p(x|z) = Σ BCE-with-logits (stable log-sigmoid).
#pragma once
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>

#include "vae/backend/cpu.hpp"
#include "vae/distributions/gaussian.hpp"
#include "vae/likelihoods/likelihood.hpp"

namespace vae {

namespace detail {
// Elementwise Bernoulli terms in double over a row, in stack chunks of `bernoulli_chunk` values so Eigen's packet
// exp/log run on AVX instead of scalar libm calls (same formulas as dist::softplus / dist::sigmoid, within a few
// double ulp of them; the float results and the double row sums agree with the scalar code to ~1e-15 relative).
inline constexpr std::int64_t bernoulli_chunk = 256;
using bernoulli_array = Eigen::Array<double, bernoulli_chunk, 1>;

// o[k] = out[k] as double, e[k] = exp(−|o[k]|) for k < len; the tail of a short chunk is padded with zeros.
template <class T>
void bernoulli_load(const T* out, std::int64_t len, bernoulli_array& o, bernoulli_array& e) {
  for (std::int64_t k = 0; k < len; ++k) o[k] = static_cast<double>(out[k]);
  for (std::int64_t k = len; k < bernoulli_chunk; ++k) o[k] = 0.0;
  // Through a runtime-sized map: on the fixed-size array GCC 12 unrolls Eigen's AVX-512 packet exp and then warns
  // about its own intrinsics' `__Y = __Y` idiom (-Wuninitialized, a false positive).
  using map = Eigen::Map<Eigen::ArrayXd>;
  using const_map = Eigen::Map<const Eigen::ArrayXd>;
  map(e.data(), bernoulli_chunk) = (-const_map(o.data(), bernoulli_chunk).abs()).exp();
}

// Σ_k softplus(o_k) − o_k·x_k over one row of p values: softplus(o) = max(o, 0) + log1p(e), with log1p(e) =
// e·log(u)/(u − 1), u = 1 + e (Goldberg's form, exact to double rounding; u == 1 means log1p(e) = e). The selects
// are on values (blends), so the plain loops vectorise; the row sum is Eigen's (vectorised, fixed order).
template <class T>
double bernoulli_row_nll(const T* out, const T* x, std::int64_t p) {
  bernoulli_array o, e, u, lu, term;
  double s = 0;
  for (std::int64_t b = 0; b < p; b += bernoulli_chunk) {
    const std::int64_t len = std::min(bernoulli_chunk, p - b);
    bernoulli_load(out + b, len, o, e);
    u = 1.0 + e;
    lu = u.log();
    for (std::int64_t k = 0; k < len; ++k) {
      const bool one = u[k] == 1.0;
      const double num = one ? 1.0 : lu[k], den = one ? 1.0 : u[k] - 1.0;
      term[k] = std::max(o[k], 0.0) + e[k] * num / den - o[k] * static_cast<double>(x[b + k]);
    }
    s += term.head(len).sum();
  }
  return s;
}

// d[k] = w·(σ(o_k) − x_k) over one row, σ(o) = 1/(1 + e) for o ≥ 0 and e/(1 + e) otherwise.
template <class T>
void bernoulli_row_grad(const T* out, const T* x, double w, std::int64_t p, T* d) {
  bernoulli_array o, e;
  for (std::int64_t b = 0; b < p; b += bernoulli_chunk) {
    const std::int64_t len = std::min(bernoulli_chunk, p - b);
    bernoulli_load(out + b, len, o, e);
    for (std::int64_t k = 0; k < len; ++k) {
      const double sig = (o[k] >= 0.0 ? 1.0 : e[k]) / (1.0 + e[k]);
      d[b + k] = static_cast<T>(w * (sig - static_cast<double>(x[b + k])));
    }
  }
}
}  // namespace detail

// Equals F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(1) per image.
struct BernoulliLikelihood {
  template <class T, class B>
  void nll(const tensor<T, B>& out, const tensor<T, B>& x, std::span<double> per_image) const {
    const auto p = detail::check_likelihood_shapes("BernoulliLikelihood::nll", out, x, 1, per_image.size());
    // Rows in parallel, each summed in double in a fixed order: the result does not depend on the thread count.
    parallel_for(x.dim(0), 4 * x.numel(), [&](std::int64_t i) {
      per_image[static_cast<std::size_t>(i)] = detail::bernoulli_row_nll(out.data() + i * p, x.data() + i * p, p);
    });
  }
  template <class T, class B>
  void backward(const tensor<T, B>& out, const tensor<T, B>& x, std::span<const double> row_weight,
                tensor<T, B>& d_out) const {
    const auto p = detail::check_likelihood_shapes("BernoulliLikelihood::backward", out, x, 1, row_weight.size());
    d_out.resize(out.shape());
    parallel_for(x.dim(0), 4 * x.numel(), [&](std::int64_t i) {
      detail::bernoulli_row_grad(out.data() + i * p, x.data() + i * p, row_weight[static_cast<std::size_t>(i)], p,
                                 d_out.data() + i * p);
    });
  }
  template <class T, class B>
  void mean(const tensor<T, B>& out, tensor<T, B>& pixels) const {
    pixels.resize(out.shape());
    for (std::int64_t j = 0; j < out.numel(); ++j) pixels[j] = static_cast<T>(dist::sigmoid(out[j]));
  }
  int output_multiplier() const { return 1; }
  template <class V>
  void visit_parameters(const std::string&, V&&) {}
};

}  // namespace vae
