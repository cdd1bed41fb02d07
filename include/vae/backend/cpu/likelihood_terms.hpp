// cpu kernels of the likelihood ops: Bernoulli rows in float AVX-512 registers where built (else vectorised through Eigen), row sums in double; Gaussian rows in plain loops.
#pragma once
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/avx512.hpp"
#include "vae/backend/cpu/flush_denormals.hpp"
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
double bernoulli_row_nll_chunked(const T* out, const T* x, std::int64_t p) {
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
void bernoulli_row_grad_chunked(const T* out, const T* x, double w, std::int64_t p, T* d) {
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

#if defined(VAE_AVX512_KERNELS)
// float rows in AVX-512 registers, 16 values at a time: one exp per value (Eigen's packet exp) serves the nll and the
// gradient. log1p(e) for e = exp(−|o|) ∈ (0, 1] is 2·atanh(s), s = e/(2 + e) ≤ 1/3, as its odd series to s¹⁵ (the
// next term is below 10⁻⁹ relative): within 2 ulp of log1p over (0, 1], no range reduction, a quarter of the cost
// of a general log. Terms in float (as PyTorch), each row summed in double in a fixed order.
namespace avx512 {
struct bernoulli_lanes {
  __m512 o, x, e, u;  // logits, targets, exp(−|o|), 1 + e
};
inline bernoulli_lanes bernoulli_load16(const float* out, const float* x, __mmask16 k) {
  bernoulli_lanes b;
  b.o = _mm512_maskz_loadu_ps(k, out);
  b.x = _mm512_maskz_loadu_ps(k, x);
  b.e = Eigen::internal::pexp(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(b.o)));
  b.u = _mm512_add_ps(_mm512_set1_ps(1.f), b.e);
  return b;
}
// log1p(e) for e ∈ [0, 1] (see above).
inline __m512 log1p_unit(__m512 e) {
  const __m512 s = _mm512_div_ps(e, _mm512_add_ps(_mm512_set1_ps(2.f), e)), s2 = _mm512_mul_ps(s, s);
  __m512 q = _mm512_set1_ps(1.f / 15);
  for (const float c : {1.f / 13, 1.f / 11, 1.f / 9, 1.f / 7, 1.f / 5, 1.f / 3})
    q = _mm512_fmadd_ps(q, s2, _mm512_set1_ps(c));
  const __m512 two_s = _mm512_add_ps(s, s);
  return _mm512_fmadd_ps(_mm512_mul_ps(two_s, s2), q, two_s);  // 2s + 2s·s²·q: the small part last
}
// softplus(o) − o·x in the lanes of k (zero elsewhere).
inline __m512 bernoulli_term16(const bernoulli_lanes& b, __mmask16 k) {
  const __m512 softplus = _mm512_add_ps(_mm512_max_ps(b.o, _mm512_setzero_ps()), log1p_unit(b.e));
  return _mm512_maskz_sub_ps(k, softplus, _mm512_mul_ps(b.o, b.x));
}
// w·(σ(o) − x), σ(o) = (o ≥ 0 ? 1 : e)/u with 1/u from the estimate and one Newton step (within 1 ulp).
inline __m512 bernoulli_grad16(const bernoulli_lanes& b, __m512 w) {
  const __m512 r0 = _mm512_rcp14_ps(b.u);
  const __m512 r = _mm512_mul_ps(r0, _mm512_fnmadd_ps(b.u, r0, _mm512_set1_ps(2.f)));
  const __mmask16 negative = _mm512_cmp_ps_mask(b.o, _mm512_setzero_ps(), _CMP_LT_OQ);
  const __m512 num = _mm512_mask_mov_ps(_mm512_set1_ps(1.f), negative, b.e);
  return _mm512_mul_ps(w, _mm512_sub_ps(_mm512_mul_ps(num, r), b.x));
}
// (GCC 12's _mm512_extractf64x4_pd and _mm512_reduce_add_pd trip its own -Wuninitialized: shuffles and a store instead.)
inline void add_to_sum(__m512 t, __m512d& lo, __m512d& hi) {
  lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(t)));
  hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm512_castps512_ps256(_mm512_shuffle_f32x4(t, t, 0xEE))));
}
inline double lane_sum(__m512d v) {
  alignas(64) double a[8];
  _mm512_store_pd(a, v);
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}
// The row's nll; with d, also writes d = w·(σ − x).
inline double bernoulli_row(const float* out, const float* x, std::int64_t p, float* d, float w) {
  const flush_denormals flush;  // exp(−|o|) of confident logits underflows (flush_denormals.hpp)
  __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
  const __m512 wv = _mm512_set1_ps(w);
  for (std::int64_t k = 0; k < p; k += 16) {
    const __mmask16 m = lanes(p - k);
    const bernoulli_lanes b = bernoulli_load16(out + k, x + k, m);
    add_to_sum(bernoulli_term16(b, m), lo, hi);
    if (d) _mm512_mask_storeu_ps(d + k, m, bernoulli_grad16(b, wv));
  }
  return lane_sum(_mm512_add_pd(lo, hi));
}
inline void bernoulli_row_grad(const float* out, const float* x, std::int64_t p, float* d, float w) {
  const __m512 wv = _mm512_set1_ps(w);
  for (std::int64_t k = 0; k < p; k += 16) {
    const __mmask16 m = lanes(p - k);
    _mm512_mask_storeu_ps(d + k, m, bernoulli_grad16(bernoulli_load16(out + k, x + k, m), wv));
  }
}
}  // namespace avx512
#endif

// One row's nll (the float AVX-512 path where built, else the chunked Eigen loops above).
template <class T>
double bernoulli_row_nll(const T* out, const T* x, std::int64_t p) {
  const flush_denormals flush;
#if defined(VAE_AVX512_KERNELS)
  if constexpr (std::is_same_v<T, float>) return avx512::bernoulli_row(out, x, p, nullptr, 0.f);
#endif
  return bernoulli_row_nll_chunked(out, x, p);
}
template <class T>
void bernoulli_row_grad(const T* out, const T* x, double w, std::int64_t p, T* d) {
  const flush_denormals flush;
#if defined(VAE_AVX512_KERNELS)
  if constexpr (std::is_same_v<T, float>) {
    avx512::bernoulli_row_grad(out, x, p, d, static_cast<float>(w));
    return;
  }
#endif
  bernoulli_row_grad_chunked(out, x, w, p, d);
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
  // nll and backward in one pass over the rows: one exp per value serves both (float AVX-512 builds).
  template <class T>
  static void nll_and_backward(std::int64_t rows, std::int64_t p, const T* out, const T* x, const double* row_weight,
                               double* per_row, T* d_out) {
#if defined(VAE_AVX512_KERNELS)
    if constexpr (std::is_same_v<T, float>) {
      parallel_for(rows, 6 * rows * p, [&](std::int64_t i) {
        per_row[i] = cpu_detail::avx512::bernoulli_row(out + i * p, x + i * p, p, d_out + i * p,
                                                       static_cast<float>(row_weight[i]));
      });
      return;
    }
#endif
    nll(rows, p, out, x, per_row);
    backward(rows, p, out, x, row_weight, d_out);
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
