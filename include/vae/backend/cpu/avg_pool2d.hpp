// cpu kernel of 2-d average pooling: one plane per parallel task.
#pragma once
#include <algorithm>
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/ops/avg_pool2d.hpp"

namespace vae {

template <>
struct kernel<avg_pool2d_op, cpu> {
  template <class T>
  static void forward(const avg_pool2d_dims& d, const T* x, T* y) {
    const std::int64_t oplane = d.out_h * d.out_w;
    const T scale = T(1) / static_cast<T>(d.kernel * d.kernel);
    parallel_for(d.planes, d.planes * oplane * d.kernel * d.kernel, [&](std::int64_t p) {
      const T* in = x + p * d.h * d.w;
      T* out = y + p * oplane;
      for (std::int64_t i = 0; i < d.out_h; ++i) {
        const std::int64_t y0 = i * d.stride - d.pad;
        const std::int64_t ya = std::max<std::int64_t>(y0, 0), yb = std::min(y0 + d.kernel, d.h);
        for (std::int64_t j = 0; j < d.out_w; ++j) {
          const std::int64_t x0 = j * d.stride - d.pad;
          const std::int64_t xa = std::max<std::int64_t>(x0, 0), xb = std::min(x0 + d.kernel, d.w);
          T acc = 0;
          for (std::int64_t a = ya; a < yb; ++a)
            for (std::int64_t b = xa; b < xb; ++b) acc += in[a * d.w + b];
          out[i * d.out_w + j] = acc * scale;
        }
      }
    });
  }
  template <class T>
  static void backward(const avg_pool2d_dims& d, const T* dy, T* dx) {
    const std::int64_t oplane = d.out_h * d.out_w;
    const T scale = T(1) / static_cast<T>(d.kernel * d.kernel);
    parallel_for(d.planes, d.planes * oplane * d.kernel * d.kernel, [&](std::int64_t p) {
      const T* in = dy + p * oplane;
      T* out = dx + p * d.h * d.w;
      for (std::int64_t t = 0; t < d.h * d.w; ++t) out[t] = T(0);
      for (std::int64_t i = 0; i < d.out_h; ++i) {
        const std::int64_t y0 = i * d.stride - d.pad;
        const std::int64_t ya = std::max<std::int64_t>(y0, 0), yb = std::min(y0 + d.kernel, d.h);
        for (std::int64_t j = 0; j < d.out_w; ++j) {
          const std::int64_t x0 = j * d.stride - d.pad;
          const std::int64_t xa = std::max<std::int64_t>(x0, 0), xb = std::min(x0 + d.kernel, d.w);
          const T g = in[i * d.out_w + j] * scale;
          for (std::int64_t a = ya; a < yb; ++a)
            for (std::int64_t b = xa; b < xb; ++b) out[a * d.w + b] += g;
        }
      }
    });
  }
};

}  // namespace vae
