// ToMemoryFormat op: a 4-d activation rearranged between [N, C, H, W] and [N, H, W, C] (core/memory_format.hpp).
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/core/memory_format.hpp"

namespace vae {

struct to_memory_format_op {};

namespace ops {
// dst = src, n images of c channels × p positions, read in format `from` and written in format `to` ([n, c, p] for
// channels_first, [n, p, c] for channels_last; a plain copy when the two are the same). Exact: values only move.
template <class B, class T>
void to_memory_format(std::int64_t n, std::int64_t c, std::int64_t p, memory_format from, memory_format to,
                      const T* src, T* dst) {
  kernel<to_memory_format_op, B>::convert(n, c, p, from, to, src, dst);
}
}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/to_memory_format.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/to_memory_format.cuh"
#endif
