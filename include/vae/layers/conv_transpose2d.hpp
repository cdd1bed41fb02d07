// ConvTranspose2d layer (PyTorch nn.ConvTranspose2d, NCHW): weight [in, out/groups, k, k], bias [out].
#pragma once
#include <algorithm>
#include <concepts>
#include <cstdint>
#include <string>

#include "vae/core/memory_format.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/ops/conv_transpose2d.hpp"

namespace vae {

template <class T = float, class B = cpu>
class ConvTranspose2d {
 public:
  using value_type = T;
  using backend = B;

  // Arguments in nn.ConvTranspose2d's order: (in, out, kernel_size, stride, padding, output_padding, groups, bias,
  // dilation); square sizes.
  ConvTranspose2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_size,
                  std::int64_t stride = 1, std::int64_t padding = 0, std::int64_t output_padding = 0,
                  std::int64_t groups = 1, bool bias = true, std::int64_t dilation = 1)
      : in_(in_channels), out_(out_channels), k_(kernel_size), stride_(stride), pad_(padding),
        out_pad_(output_padding), dil_(dilation), groups_(groups), has_bias_(bias) {
    check(in_channels > 0 && out_channels > 0 && kernel_size > 0 && stride > 0 && padding >= 0 && dilation > 0 &&
              groups > 0 && output_padding >= 0,
          [&] {
            return cat("ConvTranspose2d: expected positive sizes (padding, output_padding ≥ 0), got in=", in_channels,
                       " out=", out_channels, " kernel=", kernel_size, " stride=", stride, " padding=", padding,
                       " output_padding=", output_padding, " dilation=", dilation, " groups=", groups);
          });
    check(output_padding < std::max(stride, dilation), [&] {
      return cat("ConvTranspose2d: output_padding must be smaller than stride or dilation, got output_padding=",
                 output_padding, " stride=", stride, " dilation=", dilation);
    });
    check(in_channels % groups == 0 && out_channels % groups == 0, [&] {
      return cat("ConvTranspose2d: in_channels and out_channels must be divisible by groups, got in=", in_channels,
                 " out=", out_channels, " groups=", groups);
    });
    // PyTorch computes fan_in from weight.size(1)·k·k = (out/groups)·k·k for a transposed convolution.
    const std::int64_t fan_in = out_ / groups_ * k_ * k_;
    weight_.shape = {in_, out_ / groups_, k_, k_};
    weight_.init = parameter_init::fan_in_uniform(fan_in);
    bias_.shape = {out_};
    bias_.init = parameter_init::fan_in_uniform(fan_in);
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    visit(prefix + "weight", weight_);
    if (has_bias_) visit(prefix + "bias", bias_);
  }

  // x: [N, in, H, W] → y: [N, out, (H−1)·s − 2p + d·(k−1) + op + 1, ...].
  const tensor<T, B>& forward(const tensor<T, B>& x) { return forward_impl(x, false); }
  // relu(forward(x)), the ReLU applied in the pass that writes the output (host only): with a ReLU layer's
  // forward_fused(y) after it, the pair gives the same values and gradients as the two layers and saves a pass.
  const tensor<T, B>& forward_relu(const tensor<T, B>& x)
    requires std::same_as<B, cpu>
  {
    return forward_impl(x, true);
  }

  const tensor<T, B>& backward(const tensor<T, B>& dy) { return backward_impl(dy, false); }
  // backward(dy) of a layer whose input is a ReLU's output, with the ReLU's derivative applied where dx is written
  // (host only): with that ReLU layer's backward_fused(dx) before it, the pair gives the gradients of the two layers
  // one by one and saves the activation's pass.
  const tensor<T, B>& backward_relu_input(const tensor<T, B>& dy)
    requires std::same_as<B, cpu>
  {
    return backward_impl(dy, true);
  }
  // Whether the host kernel may use Winograd transforms for this convolution where they fit (channels-last 3×3
  // stride 1 / 4×4 stride 2: fewer multiplies, values equal to the direct product up to float rounding). On by
  // default; off keeps the direct product (im2col + GEMM, the reference values).
  void set_winograd(bool allowed) { winograd_ = allowed; }

  void set_input_gradient(bool enabled) { input_grad_ = enabled; }
  // Layout of the input and output activations (channels_first by default, as PyTorch). Channels-last is a host
  // layout: the cpu kernel reads and writes it in place, so a stack of convolutions that passes channels-last
  // activations between layers skips the two transposes each layer makes otherwise. Weights keep PyTorch's layout.
  void set_memory_format(memory_format input, memory_format output) {
    check_conv_formats("ConvTranspose2d", std::same_as<B, cpu>, groups_, input, output);
    in_format_ = input;
    out_format_ = output;
  }
  memory_format input_format() const { return in_format_; }
  memory_format output_format() const { return out_format_; }

  std::int64_t in_channels() const { return in_; }
  std::int64_t out_channels() const { return out_; }
  parameter<T>& weight() { return weight_; }
  parameter<T>& bias() { return bias_; }

 private:
  const tensor<T, B>& backward_impl(const tensor<T, B>& dy, bool relu_input) {
    check(x_ != nullptr, "ConvTranspose2d::backward called before forward");
    check_shape(dy.shape(), y_.shape(), "ConvTranspose2d::backward: dy");
    if (input_grad_) dx_.resize(x_->shape());
    auto d = d_;
    d.relu_in = relu_input;
    work_.resize({ops::conv_transpose2d_scratch_size<B>(d)});
    ops::conv_transpose2d_backward<B>(d, x_->data(), weight_.value, dy.data(), input_grad_ ? dx_.data() : nullptr,
                                      weight_.grad_to_add(), has_bias_ ? bias_.grad_to_add() : nullptr,
                                      work_.data());
    return dx_;
  }
  const tensor<T, B>& forward_impl(const tensor<T, B>& x, bool relu) {
    check(weight_.bound(), "ConvTranspose2d::forward: parameters are not attached to a parameter_store");
    check_activation("ConvTranspose2d::forward", x.shape(), in_format_, in_);
    auto d = dims(x);
    d.relu_out = relu;
    check(d.out_h > 0 && d.out_w > 0, [&] {
      return cat("ConvTranspose2d::forward: input ", x.shape(), " gives an empty output with padding ", pad_);
    });
    x_ = &x;
    d_ = d;
    if (out_format_ == memory_format::channels_last)
      y_.resize({d.n, d.out_h, d.out_w, out_});
    else
      y_.resize({d.n, out_, d.out_h, d.out_w});
    work_.resize({ops::conv_transpose2d_scratch_size<B>(d)});
    ops::conv_transpose2d_forward<B>(d, x.data(), weight_.value, has_bias_ ? bias_.value : nullptr, y_.data(),
                                     work_.data());
    return y_;
  }
  conv_transpose2d_dims dims(const tensor<T, B>& x) const {
    const bool cl = in_format_ == memory_format::channels_last;
    conv_transpose2d_dims d{x.dim(0), in_, x.dim(cl ? 1 : 2), x.dim(cl ? 2 : 3), out_, k_, k_};
    d.channels_last_in = cl;
    d.channels_last_out = out_format_ == memory_format::channels_last;
    d.stride_h = d.stride_w = stride_;
    d.pad_h = d.pad_w = pad_;
    d.out_pad_h = d.out_pad_w = out_pad_;
    d.dil_h = d.dil_w = dil_;
    d.groups = groups_;
    d.winograd = winograd_;
    return d.finish();
  }

  std::int64_t in_, out_, k_, stride_, pad_, out_pad_, dil_, groups_;
  bool has_bias_;
  bool winograd_ = true;
  bool input_grad_ = true;
  memory_format in_format_ = memory_format::channels_first, out_format_ = memory_format::channels_first;
  parameter<T> weight_, bias_;
  const tensor<T, B>* x_ = nullptr;
  conv_transpose2d_dims d_{};
  tensor<T, B> y_, dx_, work_;
};

}  // namespace vae
