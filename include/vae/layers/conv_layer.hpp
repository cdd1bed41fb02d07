// detail::conv_layer: what Conv2d and ConvTranspose2d share (parameters, the bookkeeping around their op, epilogues).
#pragma once
#include <cstdint>
#include <string>

#include "vae/core/memory_format.hpp"
#include "vae/core/op_scratch.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/ops/conv_fusion.hpp"

namespace vae {

namespace detail {

// The body of a convolution layer over the op that Derived names: Derived provides `name`, `forward_name` and
// `backward_name` (for messages: "Conv2d", "Conv2d::forward", "Conv2d::backward"), dims(n, h,
// w) (the op's geometry for an input of n images h×w, out_h/out_w filled in), too_small(x) (the message for an input
// that gives an empty output), and the op's scratch_size(d, f), run_forward and run_backward.
//
// Activations keep their format: the output (and the input gradient) are laid out as the input, channels-first or
// channels-last (tensor::format()). The epilogues are the op's (ops/conv_fusion.hpp): the same values as the separate
// layers on every backend, fused where the backend can.
template <class Derived, class Dims, class T, class B>
class conv_layer {
 public:
  using value_type = T;
  using backend = B;

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    visit(prefix + "weight", weight_);
    if (has_bias_) visit(prefix + "bias", bias_);
  }

  // x: [N, in, H, W] (or [N, H, W, in], channels-last) → y in x's format; with `out`: relu(y) or out.residual + y
  // (residual shaped as y).
  const tensor<T, B>& forward(const tensor<T, B>& x, conv_output<tensor<T, B>> out = {}) {
    check(weight_.bound(), [&] { return cat(Derived::name, "::forward: parameters are not attached to a parameter_store"); });
    const memory_format f = x.format();
    check_activation(Derived::forward_name, x.shape(), f, in_);
    const bool last = f == memory_format::channels_last;
    const Dims d = self().dims(x.dim(0), x.dim(last ? 1 : 2), x.dim(last ? 2 : 3));
    check(d.out_h > 0 && d.out_w > 0, [&] { return self().too_small(x); });
    x_ = &x;
    d_ = d;
    y_.resize(activation_shape(d.n, out_, d.out_h, d.out_w, f));
    y_.set_format(f);
    if (out.residual) {
      check(out.residual->shape() == y_.shape(), [&] {
        return cat(Derived::forward_name, ": residual: expected shape ", y_.shape(), ", got ", out.residual->shape());
      });
      check(out.residual->format() == f, [&] { return cat(Derived::forward_name, ": the residual is in another memory format"); });
    }
    Derived::run_forward(d, x.data(), weight_.value, has_bias_ ? bias_.value : nullptr, y_.data(),
                         op_scratch<T, B>(Derived::scratch_size(d, f)), f,
                         conv_output<T>{out.relu, out.residual ? out.residual->data() : nullptr});
    return y_;
  }

  // dy laid out as the output → dx laid out as the input; parameter gradients added. With `in`: dx masked by
  // relu'(x) (the input is a ReLU's output) and/or in.residual + dx (residual shaped as the input).
  const tensor<T, B>& backward(const tensor<T, B>& dy, conv_input_grad<tensor<T, B>> in = {}) {
    check(x_ != nullptr, [&] { return cat(Derived::name, "::backward called before forward"); });
    check_shape(dy.shape(), y_.shape(), Derived::backward_name);
    if (in.residual) {
      check(input_grad_, [&] {
        return cat(Derived::name, "::backward: a residual needs the input gradient (set_input_gradient)");
      });
      check(in.residual->shape() == x_->shape(), [&] {
        return cat(Derived::backward_name, ": residual: expected shape ", x_->shape(), ", got ", in.residual->shape());
      });
    }
    if (input_grad_) {
      dx_.resize(x_->shape());
      dx_.set_format(x_->format());
    }
    Derived::run_backward(d_, x_->data(), weight_.value, dy.data(), input_grad_ ? dx_.data() : nullptr,
                          weight_.grad_to_add(), has_bias_ ? bias_.grad_to_add() : nullptr,
                          op_scratch<T, B>(Derived::scratch_size(d_, x_->format())),
                          x_->format(), conv_input_grad<T>{in.relu_input, in.residual ? in.residual->data() : nullptr});
    return dx_;
  }

  // The first layer of a network needs no input gradient; turning it off saves a product per step.
  void set_input_gradient(bool enabled) { input_grad_ = enabled; }

  std::int64_t in_channels() const { return in_; }
  std::int64_t out_channels() const { return out_; }
  parameter<T>& weight() { return weight_; }
  parameter<T>& bias() { return bias_; }

 protected:
  // weight_shape in PyTorch's layout; both parameters start as PyTorch's (uniform in ±1/√fan_in).
  conv_layer(std::int64_t in, std::int64_t out, bool has_bias, shape weight_shape, std::int64_t fan_in)
      : in_(in), out_(out), has_bias_(has_bias) {
    weight_.shape = weight_shape;
    weight_.init = parameter_init::fan_in_uniform(fan_in);
    bias_.shape = {out};
    bias_.init = parameter_init::fan_in_uniform(fan_in);
  }

  std::int64_t in_, out_;
  bool has_bias_;
  bool input_grad_ = true;
  parameter<T> weight_, bias_;
  const tensor<T, B>* x_ = nullptr;
  Dims d_{};
  tensor<T, B> y_, dx_;

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
};

}  // namespace detail
}  // namespace vae
