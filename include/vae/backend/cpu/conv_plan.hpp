// How the conv cpu kernels compute one call: the op's geometry plus the host-only choices the backend makes for it.
#pragma once
#include "vae/core/memory_format.hpp"
#include "vae/ops/conv2d_dims.hpp"
#include "vae/ops/conv_transpose2d_dims.hpp"

namespace vae {

namespace cpu_detail {

// Which column layout a conv kernel uses: NCHW columns (any groups, few channels, large images), channels-last
// columns (groups = 1 and at least channels_last_min channels on the windowed side, or channels-last activations),
// or no columns: the Winograd transforms (winograd_fits: channels-last activations, 3×3 stride 1 or 4×4 stride 2).
enum class conv_path { columns, channels_last, winograd };

// What the cpu kernels read besides the geometry, decided from the call: the activations' layout (from the
// tensors' memory_format), the fusions asked for, and whether the Winograd transforms may compute it (always, but
// for tests that compare them with the direct product). Never set by a layer or a model.
struct conv_host_choices {
  bool channels_last_in = false, channels_last_out = false;
  // ReLU applied to the output in the pass that writes it (conv_output::relu).
  bool relu_out = false;
  // The input is a ReLU's output: dx is masked by relu'(x) in the pass that writes it (conv_input_grad::relu_input).
  bool relu_in = false;
  bool winograd = true;
};

// A conv2d call as the cpu kernel plans it. Activations in format f on both sides (layers keep their input's format).
struct conv2d_plan : conv2d_dims, conv_host_choices {
  conv2d_plan(const conv2d_dims& d, memory_format f = memory_format::channels_first) : conv2d_dims(d) {
    channels_last_in = channels_last_out = f == memory_format::channels_last;
  }
};
// The same for conv_transpose2d.
struct conv_transpose2d_plan : conv_transpose2d_dims, conv_host_choices {
  conv_transpose2d_plan(const conv_transpose2d_dims& d, memory_format f = memory_format::channels_first)
      : conv_transpose2d_dims(d) {
    channels_last_in = channels_last_out = f == memory_format::channels_last;
  }
};

}  // namespace cpu_detail
}  // namespace vae
