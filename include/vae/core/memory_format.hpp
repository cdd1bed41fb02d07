// memory_format: how a 4-d activation lies in memory, [N, C, H, W] (PyTorch's default) or [N, H, W, C].
#pragma once
#include <cstddef>
#include <cstdint>

#include "vae/core/error.hpp"
#include "vae/core/shape.hpp"

namespace vae {

// channels_first tensors are shaped [N, C, H, W]; channels_last tensors are shaped [N, H, W, C] (the shape says the
// order, unlike PyTorch's strided channels_last) and say so through tensor::format(). Host convolutions compute in
// channels-last order, so a stack of them whose activations stay channels-last skips two transposes per layer:
// layers keep the format of their input (the elementwise ones and the convolutions), the stack converts once at
// each end (ToMemoryFormat) to the format the backend's convolutions prefer (ops::conv_activation_format<B>).
// Weights keep PyTorch's layout.
enum class memory_format { channels_first, channels_last };

// The axis holding the channels of a 4-d activation in this format.
inline std::size_t channel_axis(memory_format f) { return f == memory_format::channels_last ? 3 : 1; }

// A 4-d activation with `channels` channels in format f, else an error naming the expected layout:
// "<what>: expected input [N, 3, H, W], got …" or "… [N, H, W, 3] (channels last), got …".
inline void check_activation(const char* what, const shape& s, memory_format f, std::int64_t channels) {
  check(s.rank() == 4 && s[channel_axis(f)] == channels, [&] {
    const bool cl = f == memory_format::channels_last;
    return cat(what, ": expected input ", cl ? "[N, H, W, " : "[N, ", channels, cl ? "] (channels last)" : ", H, W]",
               ", got ", s);
  });
}

// The shape of a 4-d activation [n, c, h, w] in format f.
inline shape activation_shape(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, memory_format f) {
  return f == memory_format::channels_last ? shape{n, h, w, c} : shape{n, c, h, w};
}

}  // namespace vae
