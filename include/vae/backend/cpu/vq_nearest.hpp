// cpu kernel of the nearest-code op: code norms, one GEMM for −2 z·Eᵀ, then a per-row add of the norms and argmin.
#pragma once
#include <cstdint>
#include <limits>

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/gemm.hpp"
#include "vae/core/error.hpp"
#include "vae/ops/vq_nearest.hpp"

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
      T m = std::numeric_limits<T>::infinity();
      for (std::int64_t k = 0; k < K; ++k) {
        row[k] = (zz + row[k]) + ee[k];
        m = row[k] < m ? row[k] : m;
      }
      std::int64_t best = 0;
      while (best < K - 1 && !(row[best] == m)) ++best;  // NaN rows end at the last code
      idx[r] = static_cast<std::int32_t>(best);
    });
  }
};

}  // namespace vae
