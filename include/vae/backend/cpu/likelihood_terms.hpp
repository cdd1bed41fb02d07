// cpu kernels of the likelihood ops: Bernoulli rows vectorised in T through Eigen (row sums in double), Gaussian rows in plain loops.
#pragma once
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/ops/likelihood_terms.hpp"

namespace vae {

namespace cpu_detail {
// Elementwise Bernoulli terms over a row in the tensor's own precision T (float: 16 AVX-512 lanes, as PyTorch
// computes BCE-with-logits in float32; double: 8 lanes, for the finite-difference checks), in stack chunks of
// `bernoulli_chunk` values so Eigen's packet exp/log run instead of scalar libm calls; each row's terms are summed in
// double. Same formulas as dist::softplus / dist::sigmoid.
inline constexpr std::int64_t bernoulli_chunk = 256;
template <class T>
using bernoulli_array = Eigen::Array<T, bernoulli_chunk, 1>;

// o[k] = out[k], e[k] = exp(−|o[k]|) for k < len; the tail of a short chunk is padded with zeros.
template <class T>
void bernoulli_load(const T* out, std::int64_t len, bernoulli_array<T>& o, bernoulli_array<T>& e) {
  for (std::int64_t k = 0; k < len; ++k) o[k] = out[k];
  for (std::int64_t k = len; k < bernoulli_chunk; ++k) o[k] = T(0);
  // Through a runtime-sized map: on the fixed-size array GCC 12 unrolls Eigen's AVX-512 packet exp and then warns
  // about its own intrinsics' `__Y = __Y` idiom (-Wuninitialized, a false positive).
  using map = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
  using const_map = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
  map(e.data(), bernoulli_chunk) = (-const_map(o.data(), bernoulli_chunk).abs()).exp();
}

// Σ_k softplus(o_k) − o_k·x_k over one row of p values: softplus(o) = max(o, 0) + log1p(e), with log1p(e) =
// e·log(u)/(u − 1), u = 1 + e (Goldberg's form, exact to T's rounding; u == 1 means log1p(e) = e). The selects
// are on values (blends), so the plain loops vectorise; the row sum is Eigen's, in double (fixed order).
template <class T>
double bernoulli_row_nll(const T* out, const T* x, std::int64_t p) {
  bernoulli_array<T> o, e, u, lu, term;
  double s = 0;
  for (std::int64_t b = 0; b < p; b += bernoulli_chunk) {
    const std::int64_t len = std::min(bernoulli_chunk, p - b);
    bernoulli_load(out + b, len, o, e);
    u = T(1) + e;
    lu = u.log();
    for (std::int64_t k = 0; k < len; ++k) {
      const bool one = u[k] == T(1);
      const T num = one ? T(1) : lu[k], den = one ? T(1) : u[k] - T(1);
      term[k] = std::max(o[k], T(0)) + e[k] * num / den - o[k] * x[b + k];
    }
    s += term.head(len).template cast<double>().sum();
  }
  return s;
}

// d[k] = w·(σ(o_k) − x_k) over one row, σ(o) = 1/(1 + e) for o ≥ 0 and e/(1 + e) otherwise.
template <class T>
void bernoulli_row_grad(const T* out, const T* x, double w, std::int64_t p, T* d) {
  bernoulli_array<T> o, e;
  const T wt = static_cast<T>(w);
  for (std::int64_t b = 0; b < p; b += bernoulli_chunk) {
    const std::int64_t len = std::min(bernoulli_chunk, p - b);
    bernoulli_load(out + b, len, o, e);
    for (std::int64_t k = 0; k < len; ++k) {
      const T sig = (o[k] >= T(0) ? T(1) : e[k]) / (T(1) + e[k]);
      d[b + k] = wt * (sig - x[b + k]);
    }
  }
}
}  // namespace cpu_detail

template <>
struct kernel<bernoulli_likelihood_op, cpu> {
  // Rows in parallel, each summed in double in a fixed order: the result does not depend on the thread count.
  template <class T>
  static void nll(std::int64_t rows, std::int64_t p, const T* out, const T* x, double* per_row) {
    parallel_for(rows, 4 * rows * p, [&](std::int64_t i) {
      per_row[i] = cpu_detail::bernoulli_row_nll(out + i * p, x + i * p, p);
    });
  }
  template <class T>
  static void backward(std::int64_t rows, std::int64_t p, const T* out, const T* x, const double* row_weight,
                       T* d_out) {
    parallel_for(rows, 4 * rows * p, [&](std::int64_t i) {
      cpu_detail::bernoulli_row_grad(out + i * p, x + i * p, row_weight[i], p, d_out + i * p);
    });
  }
  // σ(o) without overflow (dist::sigmoid's formula).
  template <class T>
  static void mean(std::int64_t n, const T* out, T* pixels) {
    for (std::int64_t j = 0; j < n; ++j) {
      const double o = out[j], e = std::exp(-std::abs(o));
      pixels[j] = static_cast<T>(o >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e));
    }
  }
};

template <>
struct kernel<gaussian_likelihood_op, cpu> {
  static constexpr double log_2pi = 1.8378770664093454835606594728112;  // log(2π), as dist::log_2pi

  template <class T>
  static void nll(std::int64_t rows, std::int64_t p, double variance, const T* out, const T* x, double* per_row) {
    const double c = 0.5 * (log_2pi + std::log(variance));
    for (std::int64_t i = 0; i < rows; ++i) {
      double s = 0;
      for (std::int64_t j = i * p; j < (i + 1) * p; ++j) {
        const double d = static_cast<double>(x[j]) - out[j];
        s += 0.5 * d * d / variance + c;
      }
      per_row[i] = s;
    }
  }
  template <class T>
  static void backward(std::int64_t rows, std::int64_t p, double variance, const T* out, const T* x,
                       const double* row_weight, T* d_out) {
    for (std::int64_t i = 0; i < rows; ++i) {
      const double w = row_weight[i] / variance;
      for (std::int64_t j = i * p; j < (i + 1) * p; ++j) d_out[j] = static_cast<T>(w * (static_cast<double>(out[j]) - x[j]));
    }
  }
};

}  // namespace vae
