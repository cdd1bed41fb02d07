// cpu kernel of the LPIPS feature distance: one image per parallel task, per-position sums over the channels.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "vae/backend/cpu.hpp"
#include "vae/ops/feature_distance.hpp"

namespace vae {

template <>
struct kernel<feature_distance_op, cpu> {
  template <class T>
  static void run(const feature_distance_dims& d, const T* f0, const T* f1, const T* w, T* dist, T* df1,
                  double scale) {
    const std::int64_t hw = d.hw, c = d.c;
    const T eps = static_cast<T>(d.eps);
    parallel_for(d.n, d.n * c * hw * (df1 ? 3 : 2), [&](std::int64_t b) {
      const T* a = f0 + b * c * hw;
      const T* x = f1 + b * c * hw;
      // Channel-strided sums, accumulated over positions in place: rows of hw read contiguously.
      std::vector<T> s0(static_cast<std::size_t>(hw), T(0)), s1(s0), norm1(s0), acc(s0), dot(s0);
      for (std::int64_t k = 0; k < c; ++k)
        for (std::int64_t p = 0; p < hw; ++p) {
          s0[p] += a[k * hw + p] * a[k * hw + p];
          s1[p] += x[k * hw + p] * x[k * hw + p];
        }
      for (std::int64_t p = 0; p < hw; ++p) {
        norm1[p] = std::sqrt(s1[p]);
        s0[p] = std::sqrt(s0[p]) + eps;  // the divisors ‖f‖ + eps
        s1[p] = norm1[p] + eps;
      }
      const T mean_weight = T(1) / static_cast<T>(c);
      for (std::int64_t k = 0; k < c; ++k) {
        const T wk = w ? w[k] : mean_weight;
        for (std::int64_t p = 0; p < hw; ++p) {
          const T diff = a[k * hw + p] / s0[p] - x[k * hw + p] / s1[p];
          acc[p] += wk * diff * diff;
        }
      }
      for (std::int64_t p = 0; p < hw; ++p) dist[b * hw + p] = acc[p];
      if (!df1) return;
      // g_k = ∂dist/∂u1_k · scale; dot = ⟨g, f1⟩.
      T* g = df1 + b * c * hw;
      const T sc = static_cast<T>(scale);
      for (std::int64_t k = 0; k < c; ++k) {
        const T wk = w ? w[k] : mean_weight;
        for (std::int64_t p = 0; p < hw; ++p) {
          const T gk = T(-2) * sc * wk * (a[k * hw + p] / s0[p] - x[k * hw + p] / s1[p]);
          g[k * hw + p] = gk;
          dot[p] += gk * x[k * hw + p];
        }
      }
      for (std::int64_t p = 0; p < hw; ++p) {
        dot[p] = norm1[p] > T(0) ? dot[p] / (norm1[p] * s1[p]) : T(0);
      }
      for (std::int64_t k = 0; k < c; ++k)
        for (std::int64_t p = 0; p < hw; ++p) g[k * hw + p] = (g[k * hw + p] - x[k * hw + p] * dot[p]) / s1[p];
    });
  }
};

}  // namespace vae
