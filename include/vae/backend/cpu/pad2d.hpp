// cpu kernel of zero padding: one plane per parallel task.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/ops/pad2d.hpp"

namespace vae {

template <>
struct kernel<pad2d_op, cpu> {
  template <class T>
  static void forward(const pad2d_dims& d, const T* x, T* y) {
    const std::int64_t oh = d.out_h(), ow = d.out_w();
    parallel_for(d.planes, d.planes * oh * ow, [&](std::int64_t p) {
      const T* in = x + p * d.h * d.w;
      T* out = y + p * oh * ow;
      for (std::int64_t i = 0; i < oh; ++i) {
        T* o = out + i * ow;
        const std::int64_t r = i - d.top;
        if (r < 0 || r >= d.h) {
          for (std::int64_t j = 0; j < ow; ++j) o[j] = T(0);
          continue;
        }
        for (std::int64_t j = 0; j < d.left; ++j) o[j] = T(0);
        for (std::int64_t j = 0; j < d.w; ++j) o[d.left + j] = in[r * d.w + j];
        for (std::int64_t j = d.left + d.w; j < ow; ++j) o[j] = T(0);
      }
    });
  }
  template <class T>
  static void backward(const pad2d_dims& d, const T* dy, T* dx) {
    const std::int64_t oh = d.out_h(), ow = d.out_w();
    parallel_for(d.planes, d.planes * d.h * d.w, [&](std::int64_t p) {
      const T* in = dy + p * oh * ow;
      T* out = dx + p * d.h * d.w;
      for (std::int64_t i = 0; i < d.h; ++i)
        for (std::int64_t j = 0; j < d.w; ++j) out[i * d.w + j] = in[(i + d.top) * ow + d.left + j];
    });
  }
};

}  // namespace vae
