// memory_format: how a 4-d activation lies in memory, [N, C, H, W] (PyTorch's default) or [N, H, W, C].
#pragma once

namespace vae {

// channels_first tensors are shaped [N, C, H, W]; channels_last tensors are shaped [N, H, W, C] (the shape says the
// order, unlike PyTorch's strided channels_last). Host convolutions compute in channels-last order, so a stack of
// them that keeps its activations channels-last skips two transposes per layer; weights keep PyTorch's layout.
enum class memory_format { channels_first, channels_last };

}  // namespace vae
