// cpu kernel of the ActNorm op: one channel per parallel task for the statistics and gradients; sums in double.
#pragma once
#include <cmath>
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/ops/act_norm.hpp"

namespace vae {

template <>
struct kernel<act_norm_op, cpu> {
  template <class T>
  static void initialize(const act_norm_dims& d, const T* x, T* loc, T* scale, T* initialized) {
    if (*initialized != T(0)) return;
    const double count = static_cast<double>(d.batch * d.spatial);
    parallel_for(d.channels, d.batch * d.channels * d.spatial * 2, [&](std::int64_t c) {
      double s = 0;
      for (std::int64_t n = 0; n < d.batch; ++n) {
        const T* xs = x + (n * d.channels + c) * d.spatial;
        for (std::int64_t k = 0; k < d.spatial; ++k) s += static_cast<double>(xs[k]);
      }
      const double m = s / count;
      double ss = 0;
      for (std::int64_t n = 0; n < d.batch; ++n) {
        const T* xs = x + (n * d.channels + c) * d.spatial;
        for (std::int64_t k = 0; k < d.spatial; ++k) {
          const double v = static_cast<double>(xs[k]) - m;
          ss += v * v;
        }
      }
      loc[c] = static_cast<T>(-m);
      scale[c] = static_cast<T>(1.0 / (std::sqrt(ss / (count - 1)) + 1e-6));
    });
    *initialized = T(1);
  }

  template <class T>
  static void forward(const act_norm_dims& d, const T* x, const T* loc, const T* scale, T* y) {
    parallel_for(d.batch * d.channels, d.batch * d.channels * d.spatial, [&](std::int64_t p) {
      const std::int64_t c = p % d.channels;
      const T l = loc[c], s = scale[c];
      const T* xs = x + p * d.spatial;
      T* ys = y + p * d.spatial;
      for (std::int64_t k = 0; k < d.spatial; ++k) ys[k] = s * (xs[k] + l);
    });
  }

  template <class T>
  static void backward(const act_norm_dims& d, const T* x, const T* loc, const T* scale, const T* dy, T* dx, T* dloc,
                       T* dscale) {
    parallel_for(d.channels, d.batch * d.channels * d.spatial * 3, [&](std::int64_t c) {
      const T l = loc[c], s = scale[c];
      double sum_dy = 0, sum_xdy = 0;
      for (std::int64_t n = 0; n < d.batch; ++n) {
        const std::int64_t o = (n * d.channels + c) * d.spatial;
        for (std::int64_t k = 0; k < d.spatial; ++k) {
          const T g = dy[o + k];
          dx[o + k] = s * g;
          sum_dy += static_cast<double>(g);
          sum_xdy += static_cast<double>(x[o + k] + l) * static_cast<double>(g);
        }
      }
      if (dloc) dloc[c] += static_cast<T>(static_cast<double>(s) * sum_dy);
      if (dscale) dscale[c] += static_cast<T>(sum_xdy);
    });
  }
};

}  // namespace vae
