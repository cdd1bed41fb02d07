// Activation layers (PyTorch nn.ReLU, LeakyReLU, SiLU, GELU, Tanh, Sigmoid, Softplus): no parameters, elementwise.
#pragma once
#include <string>

#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/ops/activations.hpp"
#include "vae/ops/conv_fusion.hpp"

namespace vae {

namespace detail {
// Shared body of the activation layers: y = act(x) elementwise, dx = dy ⊙ act'(x, y). Holds no parameters,
// so inside a Sequential it takes an index ("1") and adds no names, as in nn.Sequential.
template <class T, class B>
class elementwise_activation {
 public:
  using value_type = T;
  using backend = B;

  template <class Visitor>
  void visit_parameters(const std::string&, Visitor&&) {}

 protected:
  template <class Act>
  const tensor<T, B>& forward_with(const Act& act, const tensor<T, B>& x) {
    x_ = &x;
    y_out_ = &y_;
    y_.resize(x.shape());
    y_.set_format(x.format());  // elementwise: any layout, kept
    ops::activation_forward<B>(act, x.numel(), x.data(), y_.data());
    return y_;
  }
  // `y` already holds act(x) (the previous layer applied it, see Sequential); y is also a valid input for backward
  // when act' read through the output gives the same mask (ReLU).
  const tensor<T, B>& pass_through(const tensor<T, B>& y) {
    x_ = &y;
    y_out_ = &y;
    return y;
  }
  // The gradient with respect to the input, already computed by the next layer (ReLU::backward_fused).
  const tensor<T, B>& pass_through_gradient(const tensor<T, B>& dx) {
    check(x_ != nullptr, "activation: backward called before forward");
    check(dx.shape() == y_out_->shape(), [&] {
      return cat("activation backward: dx: expected shape ", y_out_->shape(), ", got ", dx.shape());
    });
    return dx;
  }
  template <class Act>
  const tensor<T, B>& backward_with(const Act& act, const tensor<T, B>& dy) {
    check(x_ != nullptr, [&] { return cat(Act::name, "::backward called before forward"); });
    check(dy.shape() == y_out_->shape(), [&] {
      return cat(Act::name, "::backward: dy: expected shape ", y_out_->shape(), ", got ", dy.shape());
    });
    dx_.resize(dy.shape());
    dx_.set_format(x_->format());  // laid out as the input
    ops::activation_backward<B>(act, dy.numel(), x_->data(), y_out_->data(), dy.data(), dx_.data());
    return dx_;
  }

 private:
  const tensor<T, B>* x_ = nullptr;
  const tensor<T, B>* y_out_ = nullptr;
  tensor<T, B> y_, dx_;
};
}  // namespace detail

// A layer applying the activation policy `Act` (see ops/activations.hpp). The named layers below derive from it.
template <class Act, class T = float, class B = cpu>
class Activation : public detail::elementwise_activation<T, B> {
 public:
  explicit Activation(Act act = {}) : act_(act) {}

  const tensor<T, B>& forward(const tensor<T, B>& x) { return this->forward_with(act_, x); }
  const tensor<T, B>& backward(const tensor<T, B>& dy) { return this->backward_with(act_, dy); }

  const Act& policy() const { return act_; }

 private:
  Act act_;
};

template <class T = float, class B = cpu>
class ReLU : public Activation<activation::ReLU, T, B> {
 public:
  // Inside a Sequential, after a Linear that already applied the ReLU (Linear::forward_relu): y passes through.
  // ReLU's derivative read from the output is the one read from the input (y > 0 exactly where x > 0).
  const tensor<T, B>& forward_fused(const tensor<T, B>& y) { return this->pass_through(y); }
  // Before a layer whose backward(dy, {.relu_input = true}) already applied this ReLU's derivative to its input
  // gradient: `dx` passes through (see Sequential).
  const tensor<T, B>& backward_fused(const tensor<T, B>& dx) { return this->pass_through_gradient(dx); }
  // backward(next.backward(dy)) for the layer `next` that reads this ReLU's output: fused into next's input gradient
  // where next can apply the derivative itself (a convolution's conv_input_grad::relu_input).
  template <class Next>
  const tensor<T, B>& backward_through(Next& next, const tensor<T, B>& dy) {
    if constexpr (requires { next.backward(dy, conv_input_grad<tensor<T, B>>{.relu_input = true}); })
      return backward_fused(next.backward(dy, conv_input_grad<tensor<T, B>>{.relu_input = true}));
    else
      return this->backward(next.backward(dy));
  }
};

template <class T = float, class B = cpu>
class Sigmoid : public Activation<activation::Sigmoid, T, B> {};

template <class T = float, class B = cpu>
class Tanh : public Activation<activation::Tanh, T, B> {};

template <class T = float, class B = cpu>
class SiLU : public Activation<activation::SiLU, T, B> {};

template <class T = float, class B = cpu>
class LeakyReLU : public Activation<activation::LeakyReLU, T, B> {
 public:
  explicit LeakyReLU(double negative_slope = 0.01)
      : Activation<activation::LeakyReLU, T, B>(activation::LeakyReLU{negative_slope}) {}
  double negative_slope() const { return this->policy().negative_slope; }
};

template <class T = float, class B = cpu>
class Softplus : public Activation<activation::Softplus, T, B> {
 public:
  explicit Softplus(double beta = 1.0, double threshold = 20.0)
      : Activation<activation::Softplus, T, B>(activation::Softplus{beta, threshold}) {
    check(beta > 0, [&] { return cat("Softplus: beta must be positive, got ", beta); });
  }
};

// Which form of GELU to use, as PyTorch's nn.GELU(approximate='none' | 'tanh').
enum class gelu_approximation { none, tanh };

template <class T = float, class B = cpu>
class GELU : public detail::elementwise_activation<T, B> {
 public:
  explicit GELU(gelu_approximation approximate = gelu_approximation::none) : approximate_(approximate) {}

  const tensor<T, B>& forward(const tensor<T, B>& x) {
    return approximate_ == gelu_approximation::tanh ? this->forward_with(activation::GELUTanh{}, x)
                                                    : this->forward_with(activation::GELU{}, x);
  }
  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    return approximate_ == gelu_approximation::tanh ? this->backward_with(activation::GELUTanh{}, dy)
                                                    : this->backward_with(activation::GELU{}, dy);
  }

  gelu_approximation approximate() const { return approximate_; }

 private:
  gelu_approximation approximate_;
};

}  // namespace vae
