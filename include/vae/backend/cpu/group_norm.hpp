// cpu kernel of the group-norm op: one task per (sample, group) block (contiguous in NCHW), two-pass moments in double.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/norm_stats.hpp"
#include "vae/ops/group_norm.hpp"

namespace vae {

template <>
struct kernel<group_norm_op, cpu> {
  template <class T>
  static void forward(const group_norm_dims& d, double eps, const T* x, const T* weight, const T* bias, T* y, T* mean,
                      T* rstd) {
    const std::int64_t cpg = d.channels / d.groups, len = cpg * d.spatial, blocks = d.batch * d.groups;
    parallel_for(blocks, blocks * len * 6, [&](std::int64_t i) {
      const T* xs = x + i * len;
      T* ys = y + i * len;
      const double m = cpu_detail::sum(xs, len) / static_cast<double>(len);
      const double rs =
          cpu_detail::inverse_std(cpu_detail::sum_squared_deviation(xs, len, m) / static_cast<double>(len), eps);
      mean[i] = static_cast<T>(m);
      rstd[i] = static_cast<T>(rs);
      const std::int64_t c0 = (i % d.groups) * cpg;
      const T mt = static_cast<T>(m);
      for (std::int64_t c = 0; c < cpg; ++c) {
        const T scale = static_cast<T>(weight ? static_cast<double>(weight[c0 + c]) * rs : rs);
        const T shift = bias ? bias[c0 + c] : T(0);
        const T* xc = xs + c * d.spatial;
        T* yc = ys + c * d.spatial;
        for (std::int64_t s = 0; s < d.spatial; ++s) yc[s] = (xc[s] - mt) * scale + shift;
      }
    });
  }

  template <class T>
  static void backward(const group_norm_dims& d, const T* x, const T* weight, const T* mean, const T* rstd, const T* dy,
                       T* dx, T* dweight, T* dbias) {
    const std::int64_t cpg = d.channels / d.groups, len = cpg * d.spatial, blocks = d.batch * d.groups;
    if (dx) {
      parallel_for(blocks, blocks * len * 10, [&](std::int64_t i) {
        const T* xs = x + i * len;
        const T* gs = dy + i * len;
        T* dxs = dx + i * len;
        const std::int64_t c0 = (i % d.groups) * cpg;
        const double m = static_cast<double>(mean[i]), rs = static_cast<double>(rstd[i]);
        // With ĝ = dy·w and x̂ = (x − m)·rs: a = Σ ĝ, b = Σ ĝ·x̂ over the group.
        double a = 0, b = 0;
        for (std::int64_t c = 0; c < cpg; ++c) {
          const double w = weight ? static_cast<double>(weight[c0 + c]) : 1.0;
          double sg, sgx;
          cpu_detail::sum_and_centered_dot(gs + c * d.spatial, xs + c * d.spatial, d.spatial, m, sg, sgx);
          a += w * sg;
          b += w * sgx * rs;
        }
        const double inv_len = 1.0 / static_cast<double>(len);
        // dx = rs·(ĝ − a/len − x̂·b/len) = (rs·w)·dy − rs·a/len − (x − m)·rs²·b/len
        const double k1 = rs * a * inv_len, k2 = rs * rs * b * inv_len;
        for (std::int64_t c = 0; c < cpg; ++c) {
          const double w = weight ? static_cast<double>(weight[c0 + c]) : 1.0;
          const T ka = static_cast<T>(rs * w), kb = static_cast<T>(k1), kc = static_cast<T>(k2), mt = static_cast<T>(m);
          const T* xc = xs + c * d.spatial;
          const T* gc = gs + c * d.spatial;
          T* dxc = dxs + c * d.spatial;
          for (std::int64_t s = 0; s < d.spatial; ++s) dxc[s] = ka * gc[s] - kb - (xc[s] - mt) * kc;
        }
      });
    }
    if (dweight || dbias) {
      parallel_for(d.channels, d.batch * d.channels * d.spatial * 4, [&](std::int64_t c) {
        double sw = 0, sb = 0;
        for (std::int64_t n = 0; n < d.batch; ++n) {
          const std::int64_t i = n * d.groups + c / cpg;
          const double m = static_cast<double>(mean[i]), rs = static_cast<double>(rstd[i]);
          const T* xc = x + (n * d.channels + c) * d.spatial;
          const T* gc = dy + (n * d.channels + c) * d.spatial;
          double sg, sgx;
          cpu_detail::sum_and_centered_dot(gc, xc, d.spatial, m, sg, sgx);
          sb += sg;
          sw += sgx * rs;
        }
        if (dweight) dweight[c] += static_cast<T>(sw);
        if (dbias) dbias[c] += static_cast<T>(sb);
      });
    }
  }
};

}  // namespace vae
