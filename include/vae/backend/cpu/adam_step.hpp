// cpu kernel of the Adam step op: chunks over the OpenMP pool, AVX-512 for float (no AMSGrad), Eigen arrays otherwise.
#pragma once
#include <cstdint>
#include <type_traits>

#include <Eigen/Core>

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/avx512.hpp"
#include "vae/backend/cpu/flush_denormals.hpp"
#include "vae/ops/adam_step.hpp"
#include "vae/train/optimizer.hpp"

namespace vae {

namespace detail {

// PyTorch's single-tensor formula (torch/optim/adam.py), per element:
//   g ← g + l2·p              p ← p·decay_factor
//   m ← β1·m + (1 − β1)·g     v ← β2·v + (1 − β2)·g²     [v̂ ← max(v̂, v)]
//   p ← p − step_size · m / (√v / √(1 − β2ᵗ) + eps)
// With l2 = 0 and decay_factor = 1 the extra terms are exact no-ops, so there is no branch on them. Each
// chunk is three Eigen array statements over cache-resident data (one pass over memory). Eigen's packet sqrt
// vectorises where a plain loop's std::sqrt does not (errno keeps GCC from vectorising it); with Eigen's default
// EIGEN_FAST_MATH it is rsqrt + a Newton step on AVX (within 1-2 ulp, well inside the parity tolerances).
#if defined(VAE_AVX512_KERNELS)
// The float formula above over [begin, end), 16 lanes at a time. The division m / (√v·(1/√(1 − β2ᵗ)) + eps) is a
// reciprocal estimate refined by one Newton step (within 2 ulp; vdivps made the whole step compute-bound: an
// Adam-like pass over 1.09M floats took 0.53 ms with the divide, 0.44 ms without, on two Zen 4 cores).
inline void adam_chunk_avx512(const adam_step_args<float>& a, std::int64_t begin, std::int64_t end) {
  const cpu_detail::flush_denormals flush;  // moments decaying through the denormal range (flush_denormals.hpp)
  const __m512 b1 = _mm512_set1_ps(a.beta1), c1 = _mm512_set1_ps(a.one_minus_beta1);
  const __m512 b2 = _mm512_set1_ps(a.beta2), c2 = _mm512_set1_ps(a.one_minus_beta2);
  const __m512 l2 = _mm512_set1_ps(a.l2), decay = _mm512_set1_ps(a.decay_factor), step = _mm512_set1_ps(a.step_size);
  const __m512 inv_bc2 = _mm512_set1_ps(1.0f / a.bias_correction2_sqrt), eps = _mm512_set1_ps(a.eps);
  const __m512 two = _mm512_set1_ps(2.0f);
  for (std::int64_t i = begin; i < end; i += 16) {
    const __mmask16 k = cpu_detail::avx512::lanes(end - i);
    __m512 p = _mm512_maskz_loadu_ps(k, a.param + i);
    const __m512 g = _mm512_fmadd_ps(l2, p, _mm512_maskz_loadu_ps(k, a.grad + i));
    const __m512 m = _mm512_fmadd_ps(b1, _mm512_maskz_loadu_ps(k, a.exp_avg + i), _mm512_mul_ps(c1, g));
    const __m512 v = _mm512_fmadd_ps(b2, _mm512_maskz_loadu_ps(k, a.exp_avg_sq + i), _mm512_mul_ps(_mm512_mul_ps(c2, g), g));
    const __m512 d = _mm512_fmadd_ps(_mm512_sqrt_ps(v), inv_bc2, eps);
    __m512 r = _mm512_rcp14_ps(d);
    r = _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, two));
    p = _mm512_fnmadd_ps(step, _mm512_mul_ps(m, r), _mm512_mul_ps(p, decay));
    _mm512_mask_storeu_ps(a.exp_avg + i, k, m);
    _mm512_mask_storeu_ps(a.exp_avg_sq + i, k, v);
    _mm512_mask_storeu_ps(a.param + i, k, p);
  }
}
#endif

template <bool AmsGrad, class T>
void adam_update_host(const adam_step_args<T>& a) {
#if defined(VAE_AVX512_KERNELS)
  if constexpr (!AmsGrad && std::is_same_v<T, float>) {
    for_chunks(a.n, 16, [&](std::int64_t begin, std::int64_t end) { adam_chunk_avx512(a, begin, end); });
    return;
  }
#endif
  using array = Eigen::Array<T, Eigen::Dynamic, 1>;
  using map = Eigen::Map<array>;
  using const_map = Eigen::Map<const array>;
  for_chunks(a.n, 16, [&](std::int64_t begin, std::int64_t end) {
    const cpu_detail::flush_denormals flush;
    const Eigen::Index len = end - begin;
    map p(a.param + begin, len), m(a.exp_avg + begin, len), v(a.exp_avg_sq + begin, len);
    const const_map g0(a.grad + begin, len);
    const auto g = g0 + a.l2 * p;  // an expression, evaluated inside the statements below
    m = a.beta1 * m + a.one_minus_beta1 * g;
    v = a.beta2 * v + a.one_minus_beta2 * g * g;
    if constexpr (AmsGrad) {
      map vmax(a.max_exp_avg_sq + begin, len);
      vmax = vmax.max(v);
      p = p * a.decay_factor - a.step_size * (m / (vmax.sqrt() / a.bias_correction2_sqrt + a.eps));
    } else {
      p = p * a.decay_factor - a.step_size * (m / (v.sqrt() / a.bias_correction2_sqrt + a.eps));
    }
  });
}

}  // namespace detail

template <>
struct kernel<adam_op, cpu> {
  template <class T>
  static void step(const adam_step_args<T>& a) {
    if (a.max_exp_avg_sq) detail::adam_update_host<true>(a);
    else detail::adam_update_host<false>(a);
  }
};

}  // namespace vae
