// ActNorm layer (taming-transformers' ActNorm, from Glow): y = scale ⊙ (x + loc) per channel, loc and scale set from
// the first training batch (loc = −mean, scale = 1 / (std + 1e-6)) and trained from there.
#pragma once
#include <cstdint>
#include <string>

#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/ops/act_norm.hpp"

namespace vae {

// Names as taming: parameters "loc" and "scale" [1, C, 1, 1] (init 0 and 1) and the buffer "initialized" [] (0 until
// the first training forward, then 1; PyTorch stores it as uint8, here a T, converted when moving checkpoints). A
// checkpoint saved after that batch loads with initialized = 1 and is not re-initialised. The initialisation is not
// differentiated (taming runs it under no_grad): backward treats loc and scale as the parameters they are after it.
// Eval mode (set_training(false)) never initialises. logdet and reverse (taming's flow options) are not provided.
template <class T = float, class B = cpu>
class ActNorm {
 public:
  using value_type = T;
  using backend = B;

  explicit ActNorm(std::int64_t num_features) : channels_(num_features) {
    check(num_features > 0, [&] { return cat("ActNorm: num_features must be positive, got ", num_features); });
    loc_.shape = {1, channels_, 1, 1};
    loc_.init = parameter_init::constant(0.0);
    scale_.shape = {1, channels_, 1, 1};
    scale_.init = parameter_init::constant(1.0);
    initialized_.shape = {};
    initialized_.init = parameter_init::constant(0.0);
    initialized_.trainable = false;
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    visit(prefix + "loc", loc_);
    visit(prefix + "scale", scale_);
    visit(prefix + "initialized", initialized_);
  }

  void set_training(bool training) { training_ = training; }
  bool training() const { return training_; }

  // x: [N, C, *] → same shape.
  const tensor<T, B>& forward(const tensor<T, B>& x) {
    check(loc_.bound(), "ActNorm::forward: parameters are not attached to a parameter_store");
    check(x.rank() >= 2 && x.dim(1) == channels_,
          [&] { return cat("ActNorm::forward: expected input [N, ", channels_, ", *], got ", x.shape()); });
    const auto d = dims(x);
    if (training_) {
      check(d.batch * d.spatial >= 2, [&] {
        return cat("ActNorm::forward: the data-dependent initialisation needs at least 2 values per channel, got ",
                   "input ", x.shape());
      });
      ops::act_norm_initialize<B>(d, x.data(), loc_.value, scale_.value, initialized_.value);
    }
    x_ = &x;
    y_.resize(x.shape());
    ops::act_norm_forward<B>(d, x.data(), loc_.value, scale_.value, y_.data());
    return y_;
  }

  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    check(x_ != nullptr, "ActNorm::backward called before forward");
    check_shape(dy.shape(), y_.shape(), "ActNorm::backward: dy");
    dx_.resize(dy.shape());
    ops::act_norm_backward<B>(dims(*x_), x_->data(), loc_.value, scale_.value, dy.data(), dx_.data(),
                              loc_.grad_to_add(), scale_.grad_to_add());
    return dx_;
  }

  std::int64_t num_features() const { return channels_; }
  parameter<T>& loc() { return loc_; }
  parameter<T>& scale() { return scale_; }

 private:
  act_norm_dims dims(const tensor<T, B>& x) const {
    const std::int64_t n = x.dim(0);
    return {n, channels_, n * channels_ > 0 ? x.numel() / (n * channels_) : 0};
  }

  std::int64_t channels_;
  bool training_ = true;
  parameter<T> loc_, scale_, initialized_;
  const tensor<T, B>* x_ = nullptr;
  tensor<T, B> y_, dx_;
};

}  // namespace vae
