// cpu kernel of the to_memory_format op: one image per task through the conv kernels' tiled transposes.
#pragma once
#include <algorithm>
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/conv2d_channels_last.hpp"
#include "vae/ops/to_memory_format.hpp"

namespace vae {

template <>
struct kernel<to_memory_format_op, cpu> {
  template <class T>
  static void convert(std::int64_t n, std::int64_t c, std::int64_t p, memory_format from, memory_format to,
                      const T* src, T* dst) {
    const std::int64_t img = c * p;
    parallel_for(n, n * img, [&](std::int64_t b) {
      const T* s = src + b * img;
      T* o = dst + b * img;
      if (from == to || c == 1 || p == 1)
        std::copy_n(s, img, o);
      else if (to == memory_format::channels_last)
        cpu_detail::nchw_to_nhwc(1, c, p, s, o);
      else
        cpu_detail::nhwc_to_nchw<T>(1, c, p, s, nullptr, o);
    });
  }
};

}  // namespace vae
