// cpu kernel of nearest upsampling: one plane per parallel task.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/ops/upsample.hpp"

namespace vae {

template <>
struct kernel<upsample_nearest_op, cpu> {
  template <class T>
  static void forward(const upsample_dims& d, const T* x, T* y) {
    const std::int64_t s = d.scale, ow = d.w * s, oplane = d.h * s * ow;
    parallel_for(d.planes, d.planes * oplane, [&](std::int64_t p) {
      const T* in = x + p * d.h * d.w;
      T* out = y + p * oplane;
      for (std::int64_t i = 0; i < d.h * s; ++i) {
        const T* row = in + (i / s) * d.w;
        T* o = out + i * ow;
        for (std::int64_t j = 0; j < ow; ++j) o[j] = row[j / s];
      }
    });
  }
  template <class T>
  static void backward(const upsample_dims& d, const T* dy, T* dx) {
    const std::int64_t s = d.scale, ow = d.w * s, oplane = d.h * s * ow;
    parallel_for(d.planes, d.planes * oplane, [&](std::int64_t p) {
      const T* in = dy + p * oplane;
      T* out = dx + p * d.h * d.w;
      for (std::int64_t i = 0; i < d.h; ++i) {
        for (std::int64_t j = 0; j < d.w; ++j) {
          T acc = 0;
          for (std::int64_t a = 0; a < s; ++a) {
            const T* r = in + (i * s + a) * ow + j * s;
            for (std::int64_t b = 0; b < s; ++b) acc += r[b];
          }
          out[i * d.w + j] = acc;
        }
      }
    });
  }
};

}  // namespace vae
