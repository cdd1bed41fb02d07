// op_scratch: the calling thread's scratch buffer for ops that need temporary space (a convolution's columns).
#pragma once
#include <cstdint>

#include "vae/core/tensor.hpp"

namespace vae {

// n elements of the calling thread's scratch for element type T on backend B, grown to n when smaller (never shrunk).
// Layers take it for one op call and keep nothing in it between calls, so a network holds one buffer the size of its
// largest call instead of one per layer: at 256×256 with 128 channels one 3×3 convolution's columns are about 0.7 GB,
// and a decoder has a dozen such layers. The pointer is valid until the next op_scratch<T, B> call on this thread;
// one buffer per thread keeps layers that run on different threads (copies of a model) apart.
template <class T, class B>
T* op_scratch(std::int64_t n) {
  thread_local tensor<T, B> buffer;
  buffer.resize({n});
  return buffer.data();
}

}  // namespace vae
