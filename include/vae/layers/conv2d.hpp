// Conv2d layer (PyTorch nn.Conv2d, NCHW): weight [out, in/groups, k, k], bias [out]; stride, padding, dilation, groups.
#pragma once
#include <concepts>
#include <cstdint>
#include <string>

#include "vae/core/memory_format.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/ops/conv2d.hpp"

namespace vae {

template <class T = float, class B = cpu>
class Conv2d {
 public:
  using value_type = T;
  using backend = B;

  // Square kernel/stride/padding/dilation as in nn.Conv2d(in, out, kernel_size, stride, padding, dilation, groups, bias).
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_size, std::int64_t stride = 1,
         std::int64_t padding = 0, std::int64_t dilation = 1, std::int64_t groups = 1, bool bias = true)
      : in_(in_channels), out_(out_channels), k_(kernel_size), stride_(stride), pad_(padding), dil_(dilation),
        groups_(groups), has_bias_(bias) {
    check(in_channels > 0 && out_channels > 0 && kernel_size > 0 && stride > 0 && padding >= 0 && dilation > 0 &&
              groups > 0,
          [&] {
            return cat("Conv2d: expected positive sizes (padding ≥ 0), got in=", in_channels, " out=", out_channels,
                       " kernel=", kernel_size, " stride=", stride, " padding=", padding, " dilation=", dilation,
                       " groups=", groups);
          });
    check(in_channels % groups == 0 && out_channels % groups == 0, [&] {
      return cat("Conv2d: in_channels and out_channels must be divisible by groups, got in=", in_channels,
                 " out=", out_channels, " groups=", groups);
    });
    const std::int64_t fan_in = in_ / groups_ * k_ * k_;
    weight_.shape = {out_, in_ / groups_, k_, k_};
    weight_.init = parameter_init::fan_in_uniform(fan_in);
    bias_.shape = {out_};
    bias_.init = parameter_init::fan_in_uniform(fan_in);
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    visit(prefix + "weight", weight_);
    if (has_bias_) visit(prefix + "bias", bias_);
  }

  // x: [N, in, H, W] → y: [N, out, OH, OW].
  const tensor<T, B>& forward(const tensor<T, B>& x) { return forward_impl(x, false); }
  // relu(forward(x)), the ReLU applied in the pass that writes the output (host only): with a ReLU layer's
  // forward_fused(y) after it, the pair gives the same values and gradients as the two layers and saves a pass.
  const tensor<T, B>& forward_relu(const tensor<T, B>& x)
    requires std::same_as<B, cpu>
  {
    return forward_impl(x, true);
  }
  // residual + forward(x), the addition made where the output is written (host only; residual shaped as the
  // output): a residual block's skip connection without a pass of its own. Bit for bit forward then the addition.
  const tensor<T, B>& forward_add(const tensor<T, B>& x, const tensor<T, B>& residual)
    requires std::same_as<B, cpu>
  {
    return forward_impl(x, false, &residual);
  }

  const tensor<T, B>& backward(const tensor<T, B>& dy) { return backward_impl(dy, false); }
  // backward(dy) of a conv whose input is a ReLU's output, with the ReLU's derivative applied where dx is written
  // (host only): with that ReLU layer's backward_fused(dx) before it, the pair gives the gradients of the two layers
  // one by one and saves the activation's pass. With `residual` (shaped as the input), dx = residual + that: a
  // residual block's skip connection, bit for bit the backward then the addition.
  const tensor<T, B>& backward_relu_input(const tensor<T, B>& dy, const tensor<T, B>* residual = nullptr)
    requires std::same_as<B, cpu>
  {
    return backward_impl(dy, true, residual);
  }
  // Whether the host kernel may use Winograd transforms for this convolution where they fit (channels-last 3×3
  // stride 1 / 4×4 stride 2: fewer multiplies, values equal to the direct product up to float rounding). On by
  // default; off keeps the direct product (im2col + GEMM, the reference values).
  void set_winograd(bool allowed) { winograd_ = allowed; }

  // The first layer of a network needs no input gradient; turning it off saves a GEMM and a col2im per step.
  void set_input_gradient(bool enabled) { input_grad_ = enabled; }
  // Layout of the input and output activations (channels_first by default, as PyTorch). Channels-last is a host
  // layout: the cpu kernel reads and writes it in place, so a stack of convolutions that passes channels-last
  // activations between layers skips the two transposes each layer makes otherwise. Weights keep PyTorch's layout.
  void set_memory_format(memory_format input, memory_format output) {
    check_conv_formats("Conv2d", std::same_as<B, cpu>, groups_, input, output);
    in_format_ = input;
    out_format_ = output;
  }
  memory_format input_format() const { return in_format_; }
  memory_format output_format() const { return out_format_; }

  // The output of the last forward (as forward returned it).
  const tensor<T, B>& output() const { return y_; }
  // dw = ∂(Σ dy ⊙ y)/∂weight at the last forward, WRITTEN into dw (resized to the weight's shape); the parameter
  // gradients are left alone. How one layer's gradient of several losses is read without a full backward each (the
  // adaptive GAN weight at a decoder's last layer).
  void weight_gradient(const tensor<T, B>& dy, tensor<T, B>& dw) {
    check(x_ != nullptr, "Conv2d::weight_gradient called before forward");
    check_shape(dy.shape(), y_.shape(), "Conv2d::weight_gradient: dy");
    dw.resize(weight_.shape);
    dw.zero();
    auto d = d_;
    d.relu_in = false;
    scratch_.resize({ops::conv2d_scratch_size<B>(d)});
    ops::conv2d_backward<B>(d, x_->data(), weight_.value, dy.data(), static_cast<T*>(nullptr), dw.data(),
                            static_cast<T*>(nullptr), scratch_.data());
  }

  std::int64_t in_channels() const { return in_; }
  std::int64_t out_channels() const { return out_; }
  parameter<T>& weight() { return weight_; }
  parameter<T>& bias() { return bias_; }

 private:
  const tensor<T, B>& forward_impl(const tensor<T, B>& x, bool relu, const tensor<T, B>* residual = nullptr) {
    check(weight_.bound(), "Conv2d::forward: parameters are not attached to a parameter_store");
    check_activation("Conv2d::forward", x.shape(), in_format_, in_);
    auto d = dims(x);
    d.relu_out = relu;
    check(d.out_h > 0 && d.out_w > 0, [&] {
      return cat("Conv2d::forward: input ", x.shape(), " is too small for kernel ", k_, " (dilation ", dil_,
                 ", padding ", pad_, ")");
    });
    x_ = &x;
    d_ = d;
    if (out_format_ == memory_format::channels_last)
      y_.resize({d.n, d.out_h, d.out_w, out_});
    else
      y_.resize({d.n, out_, d.out_h, d.out_w});
    scratch_.resize({ops::conv2d_scratch_size<B>(d)});
    const T* bias = has_bias_ ? bias_.value : nullptr;
    if constexpr (std::same_as<B, cpu>) {
      if (residual) {
        check_shape(residual->shape(), y_.shape(), "Conv2d::forward_add: residual");
        ops::conv2d_forward_add<B>(d, x.data(), weight_.value, bias, residual->data(), y_.data(), scratch_.data());
        return y_;
      }
    }
    ops::conv2d_forward<B>(d, x.data(), weight_.value, bias, y_.data(), scratch_.data());
    return y_;
  }
  const tensor<T, B>& backward_impl(const tensor<T, B>& dy, bool relu_input, const tensor<T, B>* residual = nullptr) {
    check(x_ != nullptr, "Conv2d::backward called before forward");
    check_shape(dy.shape(), y_.shape(), "Conv2d::backward: dy");
    if (input_grad_) dx_.resize(x_->shape());
    auto d = d_;
    d.relu_in = relu_input;
    scratch_.resize({ops::conv2d_scratch_size<B>(d)});
    T* dx = input_grad_ ? dx_.data() : nullptr;
    T* db = has_bias_ ? bias_.grad_to_add() : nullptr;
    if constexpr (std::same_as<B, cpu>) {
      if (residual) {
        check(input_grad_, "Conv2d::backward_relu_input: a residual needs the input gradient (set_input_gradient)");
        check_shape(residual->shape(), x_->shape(), "Conv2d::backward_relu_input: residual");
        ops::conv2d_backward_add<B>(d, x_->data(), weight_.value, dy.data(), residual->data(), dx,
                                    weight_.grad_to_add(), db, scratch_.data());
        return dx_;
      }
    }
    ops::conv2d_backward<B>(d, x_->data(), weight_.value, dy.data(), dx, weight_.grad_to_add(), db, scratch_.data());
    return dx_;
  }
  conv2d_dims dims(const tensor<T, B>& x) const {
    const bool cl = in_format_ == memory_format::channels_last;
    conv2d_dims d{x.dim(0), in_, x.dim(cl ? 1 : 2), x.dim(cl ? 2 : 3), out_, k_, k_};
    d.channels_last_in = cl;
    d.channels_last_out = out_format_ == memory_format::channels_last;
    d.stride_h = d.stride_w = stride_;
    d.pad_h = d.pad_w = pad_;
    d.dil_h = d.dil_w = dil_;
    d.groups = groups_;
    d.winograd = winograd_;
    return d.finish();
  }

  std::int64_t in_, out_, k_, stride_, pad_, dil_, groups_;
  bool has_bias_;
  bool winograd_ = true;
  bool input_grad_ = true;
  memory_format in_format_ = memory_format::channels_first, out_format_ = memory_format::channels_first;
  parameter<T> weight_, bias_;
  const tensor<T, B>* x_ = nullptr;
  conv2d_dims d_{};
  tensor<T, B> y_, dx_, scratch_;
};

}  // namespace vae
