// cuda kernel of the to_memory_format op: one thread per element, [n, c, p] ↔ [n, p, c].
#pragma once
#include <cstdint>

#include "vae/backend/cuda.hpp"
#include "vae/ops/to_memory_format.hpp"

namespace vae {

namespace cuda_detail {
// Thread i < n·c·p: the element (b, ch, t) moved from [n, c, p] to [n, p, c] (to_last) or back.
template <class T>
__global__ void to_memory_format_kernel(std::int64_t total, std::int64_t c, std::int64_t p, bool to_last, const T* src,
                                        T* dst) {
  const std::int64_t i = thread_index();
  if (i >= total) return;
  const std::int64_t b = i / (c * p), r = i % (c * p);
  const std::int64_t ch = r / p, t = r % p;  // i read as channels-first
  const std::int64_t last = (b * p + t) * c + ch;
  if (to_last)
    dst[last] = src[i];
  else
    dst[i] = src[last];
}
}  // namespace cuda_detail

template <>
struct kernel<to_memory_format_op, cuda> {
  template <class T>
  static void convert(std::int64_t n, std::int64_t c, std::int64_t p, memory_format from, memory_format to,
                      const T* src, T* dst) {
    const std::int64_t total = n * c * p;
    if (total == 0) return;
    if (from == to) {
      cuda::copy(dst, src, static_cast<std::size_t>(total));
      return;
    }
    cuda_detail::to_memory_format_kernel<T><<<cuda_detail::blocks_for(total), cuda_detail::threads_per_block, 0,
                                              cuda_detail::stream()>>>(total, c, p, to == memory_format::channels_last,
                                                                       src, dst);
    cuda_detail::check_launch("vae::cuda to_memory_format");
  }
};

}  // namespace vae
