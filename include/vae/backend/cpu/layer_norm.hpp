// cpu kernel of the layer-norm op: one task per row (two-pass moments in double); parameter gradients by column blocks.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/norm_stats.hpp"
#include "vae/ops/layer_norm.hpp"

namespace vae {

namespace cpu_detail {
// Columns per task of the parameter-gradient reduction: each task walks all rows over this many contiguous columns.
inline constexpr std::int64_t layer_norm_column_block = 64;
}  // namespace cpu_detail

template <>
struct kernel<layer_norm_op, cpu> {
  template <class T>
  static void forward(const layer_norm_dims& d, double eps, const T* x, const T* weight, const T* bias, T* y, T* mean,
                      T* rstd) {
    const std::int64_t D = d.features;
    parallel_for(d.rows, d.rows * D * 6, [&](std::int64_t r) {
      const T* xs = x + r * D;
      T* ys = y + r * D;
      const double m = cpu_detail::sum(xs, D) / static_cast<double>(D);
      const double rs =
          cpu_detail::inverse_std(cpu_detail::sum_squared_deviation(xs, D, m) / static_cast<double>(D), eps);
      mean[r] = static_cast<T>(m);
      rstd[r] = static_cast<T>(rs);
      const T mt = static_cast<T>(m), rt = static_cast<T>(rs);
      if (weight) {
        for (std::int64_t j = 0; j < D; ++j) ys[j] = (xs[j] - mt) * rt * weight[j] + (bias ? bias[j] : T(0));
      } else {
        for (std::int64_t j = 0; j < D; ++j) ys[j] = (xs[j] - mt) * rt;
      }
    });
  }

  template <class T>
  static void backward(const layer_norm_dims& d, const T* x, const T* weight, const T* mean, const T* rstd, const T* dy,
                       T* dx, T* dweight, T* dbias) {
    const std::int64_t D = d.features;
    if (dx) {
      parallel_for(d.rows, d.rows * D * 10, [&](std::int64_t r) {
        const T* xs = x + r * D;
        const T* gs = dy + r * D;
        T* dxs = dx + r * D;
        const double m = static_cast<double>(mean[r]), rs = static_cast<double>(rstd[r]);
        // With ĝ = dy·w and x̂ = (x − m)·rs: a = Σ ĝ, b = Σ ĝ·x̂ over the row.
        double a = 0, b = 0;
        for (std::int64_t j = 0; j < D; ++j) {
          const double g = static_cast<double>(gs[j]) * (weight ? static_cast<double>(weight[j]) : 1.0);
          a += g;
          b += g * (static_cast<double>(xs[j]) - m);
        }
        b *= rs;
        const double inv_d = 1.0 / static_cast<double>(D);
        // dx = rs·(ĝ − a/D − x̂·b/D)
        const T rt = static_cast<T>(rs), ka = static_cast<T>(rs * a * inv_d), kb = static_cast<T>(rs * rs * b * inv_d),
                mt = static_cast<T>(m);
        for (std::int64_t j = 0; j < D; ++j) {
          const T g = weight ? gs[j] * weight[j] : gs[j];
          dxs[j] = rt * g - ka - (xs[j] - mt) * kb;
        }
      });
    }
    if (dweight || dbias) {
      constexpr std::int64_t block = cpu_detail::layer_norm_column_block;
      const std::int64_t blocks = (D + block - 1) / block;
      parallel_for(blocks, d.rows * D * 4, [&](std::int64_t k) {
        const std::int64_t j0 = k * block, j1 = std::min(D, j0 + block);
        std::array<double, block> sw{}, sb{};
        for (std::int64_t r = 0; r < d.rows; ++r) {
          const double m = static_cast<double>(mean[r]), rs = static_cast<double>(rstd[r]);
          const T* xs = x + r * D;
          const T* gs = dy + r * D;
          for (std::int64_t j = j0; j < j1; ++j) {
            const double g = static_cast<double>(gs[j]);
            sb[j - j0] += g;
            sw[j - j0] += g * (static_cast<double>(xs[j]) - m) * rs;
          }
        }
        for (std::int64_t j = j0; j < j1; ++j) {
          if (dweight) dweight[j] += static_cast<T>(sw[j - j0]);
          if (dbias) dbias[j] += static_cast<T>(sb[j - j0]);
        }
      });
    }
  }
};

}  // namespace vae
