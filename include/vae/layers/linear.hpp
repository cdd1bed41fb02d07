// Linear layer (PyTorch nn.Linear): weight [out, in], bias [out]; acts on the last dimension.
#pragma once
#include <cstdint>
#include <string>

#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/ops/linear.hpp"

namespace vae {

template <class T = float, class B = cpu>
class Linear {
 public:
  using value_type = T;
  using backend = B;

  Linear(std::int64_t in_features, std::int64_t out_features, bool bias = true)
      : in_(in_features), out_(out_features), has_bias_(bias) {
    check(in_features > 0 && out_features > 0,
          [&] { return cat("Linear: sizes must be positive, got in=", in_features, " out=", out_features); });
    weight_.shape = {out_, in_};
    weight_.init = parameter_init::fan_in_uniform(in_);
    weight_.panels_for_inference = true;  // read as panels while frozen (parameter_store::freeze_for_inference)
    bias_.shape = {out_};
    bias_.init = parameter_init::fan_in_uniform(in_);
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    visit(prefix + "weight", weight_);
    if (has_bias_) visit(prefix + "bias", bias_);
  }

  // x: [..., in] → y: [..., out]
  const tensor<T, B>& forward(const tensor<T, B>& x) {
    prepare_forward(x);
    if constexpr (HostBackend<B>) {
      if (const T* panels = weight_.frozen_panels()) {  // a host store frozen for inference
        ops::linear_forward_from_panels<B>(dims(x), x.data(), panels, has_bias_ ? bias_.value : nullptr, y_.data(),
                                           false);
        return y_;
      }
    }
    ops::linear_forward<B>(dims(x), x.data(), weight_.value, has_bias_ ? bias_.value : nullptr, y_.data());
    return y_;
  }

  // forward(x) followed by ReLU in the same pass: y_ holds max(x·Wᵀ + b, 0). Sequential uses it for a Linear directly
  // followed by a ReLU, which then passes y_ through (ReLU's mask from its output equals the one from its input).
  // backward() is unchanged: it receives the gradient the ReLU already masked.
  const tensor<T, B>& forward_relu(const tensor<T, B>& x) {
    prepare_forward(x);
    if constexpr (HostBackend<B>) {
      if (const T* panels = weight_.frozen_panels()) {
        ops::linear_forward_from_panels<B>(dims(x), x.data(), panels, has_bias_ ? bias_.value : nullptr, y_.data(),
                                           true);
        return y_;
      }
    }
    ops::linear_relu_forward<B>(dims(x), x.data(), weight_.value, has_bias_ ? bias_.value : nullptr, y_.data());
    return y_;
  }

  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    check(x_ != nullptr, "Linear::backward called before forward");
    check_shape(dy.shape(), y_.shape(), "Linear::backward: dy");
    if (input_grad_) dx_.resize(x_->shape());
    T* dx = input_grad_ ? dx_.data() : nullptr;
    // A gradient the store left unset (Adam::step_and_zero_grad) is overwritten: no clearing pass, no read of it.
    const bool overwrite_w = weight_.take_unset_grad(), overwrite_b = has_bias_ && bias_.take_unset_grad();
    ops::linear_backward_writing<B>(dims(*x_), x_->data(), weight_.value, dy.data(), dx, weight_.grad,
                                    has_bias_ ? bias_.grad : nullptr, overwrite_w, overwrite_b);
    return dx_;
  }

  // The first layer of a network needs no input gradient; turning it off saves one GEMM per step.
  void set_input_gradient(bool enabled) { input_grad_ = enabled; }

  std::int64_t in_features() const { return in_; }
  std::int64_t out_features() const { return out_; }
  parameter<T>& weight() { return weight_; }
  parameter<T>& bias() { return bias_; }

 private:
  void prepare_forward(const tensor<T, B>& x) {
    check(weight_.bound(), "Linear::forward: parameters are not attached to a parameter_store");
    check(x.rank() >= 1 && x.dim(x.rank() - 1) == in_,
          [&] { return cat("Linear::forward: expected input [..., ", in_, "], got ", x.shape()); });
    x_ = &x;
    shape out_shape = x.shape();
    out_shape[out_shape.rank() - 1] = out_;
    y_.resize(out_shape);
  }
  linear_dims dims(const tensor<T, B>& x) const { return {x.numel() / in_, in_, out_}; }

  std::int64_t in_, out_;
  bool has_bias_;
  bool input_grad_ = true;
  parameter<T> weight_, bias_;
  const tensor<T, B>* x_ = nullptr;
  tensor<T, B> y_, dx_;
};

}  // namespace vae
