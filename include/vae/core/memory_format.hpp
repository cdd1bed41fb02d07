// memory_format: how a 4-d activation lies in memory, [N, C, H, W] (PyTorch's default) or [N, H, W, C].
#pragma once
#include <cstddef>
#include <cstdint>

#include "vae/core/error.hpp"
#include "vae/core/shape.hpp"

namespace vae {

// channels_first tensors are shaped [N, C, H, W]; channels_last tensors are shaped [N, H, W, C] (the shape says the
// order, unlike PyTorch's strided channels_last). Host convolutions compute in channels-last order, so a stack of
// them that keeps its activations channels-last skips two transposes per layer; weights keep PyTorch's layout.
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

// A convolution layer's set_memory_format checks: channels-last only on a host backend and without groups.
inline void check_conv_formats(const char* layer, bool host_backend, std::int64_t groups, memory_format input,
                               memory_format output) {
  const bool first = input == memory_format::channels_first && output == memory_format::channels_first;
  check(host_backend || first,
        [&] { return cat(layer, "::set_memory_format: channels-last activations are host-only"); });
  check(groups == 1 || first,
        [&] { return cat(layer, "::set_memory_format: channels-last activations need groups == 1"); });
}

}  // namespace vae
