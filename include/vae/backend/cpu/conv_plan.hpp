// How the conv cpu kernels compute one call: the op's geometry plus the host-only choices the backend makes for it.
#pragma once
#include <cstdint>

#include "vae/core/memory_format.hpp"
#include "vae/ops/conv2d_dims.hpp"
#include "vae/ops/conv_fusion.hpp"
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

// The op entry points the conv2d and conv_transpose2d cpu kernels share: each call's plan from (dims, format,
// fusions), then the path Kernel::path_for picks for it. Kernel adds `using` declarations for these names (its own
// overloads on an explicit plan and path would hide them).
template <class Kernel, class Dims, class Plan>
struct conv_kernel_entry {
  // The layout the kernels compute in without transposing (so a stack of convolutions keeps its activations in it).
  static constexpr memory_format activation_format = memory_format::channels_last;

  static std::int64_t scratch_size(const Dims& d, memory_format f) {
    const Plan p(d, f);
    return Kernel::scratch_size(p, Kernel::path_for(p));
  }
  template <class T>
  static void forward(const Dims& dims, const T* x, const T* w, const T* bias, T* y, T* scratch, memory_format f,
                      conv_output<T> out) {
    Plan d(dims, f);
    d.relu_out = out.relu;
    Kernel::forward(d, x, w, bias, y, scratch, Kernel::path_for(d), out.residual);
  }
  template <class T>
  static void backward(const Dims& dims, const T* x, const T* w, const T* dy, T* dx, T* dw, T* dbias, T* scratch,
                       memory_format f, conv_input_grad<T> in) {
    Plan d(dims, f);
    d.relu_in = in.relu_input;
    Kernel::backward(d, x, w, dy, dx, dw, dbias, scratch, Kernel::path_for(d), in.residual);
  }
};

}  // namespace cpu_detail
}  // namespace vae
