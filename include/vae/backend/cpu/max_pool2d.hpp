// cpu kernel of 2-d max pooling: one plane per parallel task; backward scatters each dy to its window's argmax.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/ops/max_pool2d.hpp"

namespace vae {

template <>
struct kernel<max_pool2d_op, cpu> {
  template <class T>
  static void forward(const max_pool2d_dims& d, const T* x, T* y, std::int32_t* argmax) {
    const std::int64_t oplane = d.out_h * d.out_w;
    parallel_for(d.planes, d.planes * oplane * d.kernel * d.kernel, [&](std::int64_t p) {
      const T* in = x + p * d.h * d.w;
      T* out = y + p * oplane;
      std::int32_t* arg = argmax + p * oplane;
      for (std::int64_t i = 0; i < d.out_h; ++i) {
        const std::int64_t y0 = i * d.stride - d.pad;
        const std::int64_t ya = std::max<std::int64_t>(y0, 0), yb = std::min(y0 + d.kernel, d.h);
        for (std::int64_t j = 0; j < d.out_w; ++j) {
          const std::int64_t x0 = j * d.stride - d.pad;
          const std::int64_t xa = std::max<std::int64_t>(x0, 0), xb = std::min(x0 + d.kernel, d.w);
          std::int64_t best = ya * d.w + xa;
          T m = in[best];
          for (std::int64_t a = ya; a < yb; ++a)
            for (std::int64_t b = xa; b < xb; ++b) {
              const T v = in[a * d.w + b];
              if (v > m || (std::isnan(v) && !std::isnan(m))) {
                m = v;
                best = a * d.w + b;
              }
            }
          out[i * d.out_w + j] = m;
          arg[i * d.out_w + j] = static_cast<std::int32_t>(best);
        }
      }
    });
  }
  template <class T>
  static void backward(const max_pool2d_dims& d, const T* dy, const std::int32_t* argmax, T* dx) {
    const std::int64_t oplane = d.out_h * d.out_w;
    parallel_for(d.planes, d.planes * (oplane + d.h * d.w), [&](std::int64_t p) {
      const T* g = dy + p * oplane;
      const std::int32_t* arg = argmax + p * oplane;
      T* out = dx + p * d.h * d.w;
      std::fill(out, out + d.h * d.w, T(0));
      for (std::int64_t o = 0; o < oplane; ++o) out[arg[o]] += g[o];
    });
  }
};

}  // namespace vae
