// cpu kernel of the nearest-code op: code norms, one GEMM for −2 z·Eᵀ, then a per-row add of the norms and argmin.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/gemm.hpp"
#include "vae/core/error.hpp"
#include "vae/ops/vq_nearest.hpp"
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace vae {

template <>
struct kernel<vq_nearest_op, cpu> {
  template <class T>
  static void code_norms(const vq_nearest_dims& d, const T* E, T* out) {
    for (std::int64_t k = 0; k < d.codes; ++k) {
      T s = 0;
      for (std::int64_t j = 0; j < d.dim; ++j) s += E[k * d.dim + j] * E[k * d.dim + j];
      out[k] = s;
    }
  }

  // row[k] = (zz + row[k]) + ee[k] for every code; returns the smallest (NaN entries never win: min(x, m) keeps m
  // when x is NaN, as `x < m ? x : m` does). The compiler keeps a float min reduction scalar without -ffast-math;
  // the AVX-512 form takes 16 lanes at a time (the scalar loop was ~4% of a vq-vae step). Min is exact, so the
  // lanes' order changes nothing, and argmin then searches the stored row as before.
  template <class T>
  static T add_norms_and_min(std::int64_t K, T zz, const T* ee, T* row) {
    T m = std::numeric_limits<T>::infinity();
    std::int64_t k = 0;
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
      const __m512 vz = _mm512_set1_ps(zz);
      __m512 vm = _mm512_set1_ps(m);
      for (; k + 16 <= K; k += 16) {
        const __m512 v = _mm512_add_ps(_mm512_add_ps(vz, _mm512_loadu_ps(row + k)), _mm512_loadu_ps(ee + k));
        _mm512_storeu_ps(row + k, v);
        vm = _mm512_min_ps(v, vm);
      }
      alignas(64) float lanes[16];
      _mm512_store_ps(lanes, vm);
      for (const float l : lanes) m = l < m ? l : m;
    }
#endif
    for (; k < K; ++k) {
      row[k] = (zz + row[k]) + ee[k];
      m = row[k] < m ? row[k] : m;
    }
    return m;
  }

  // The first k < K − 1 with row[k] == m, else K − 1 (a NaN row ends at the last code), 16 codes at a time for float.
  template <class T>
  static std::int64_t first_equal(std::int64_t K, const T* row, T m) {
    std::int64_t k = 0;
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
      const __m512 vm = _mm512_set1_ps(m);
      for (; k + 16 <= K; k += 16) {
        const unsigned hit = _mm512_cmp_ps_mask(_mm512_loadu_ps(row + k), vm, _CMP_EQ_OQ);
        if (hit) return std::min<std::int64_t>(k + __builtin_ctz(hit), K - 1);
      }
    }
#endif
    while (k < K - 1 && !(row[k] == m)) ++k;
    return k;
  }

  template <class T>
  static void nearest(const vq_nearest_dims& dims, const T* z, const T* E, const T* ee, T* dist, std::int32_t* idx) {
    const std::int64_t rows = dims.rows, K = dims.codes, d = dims.dim;
    if (rows == 0 || K == 0) return;
    check(K <= std::numeric_limits<std::int32_t>::max(),
          [&] { return cat("vq_nearest: ", K, " codes exceed int32 indices"); });
    cpu_detail::gemm<T>(false, true, rows, K, d, T(-2), z, d, E, d, T(0), dist, K);
    parallel_for(rows, rows * (K + d), [&](std::int64_t r) {
      T zz = 0;
      for (std::int64_t j = 0; j < d; ++j) zz += z[r * d + j] * z[r * d + j];
      T* row = dist + r * K;
      // Two passes: a vectorisable add + min, then the first index holding the min (argmin's tie rule).
      const T m = add_norms_and_min(K, zz, ee, row);
      idx[r] = static_cast<std::int32_t>(first_equal(K, row, m));
    });
  }
};

}  // namespace vae
