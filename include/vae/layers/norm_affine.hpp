// norm_affine: the optional elementwise scale and shift of a normalisation layer (weight = 1, bias = 0 at init).
#pragma once
#include <cstdint>
#include <string>

#include "vae/core/parameters.hpp"

namespace vae {

// PyTorch's `affine` / `elementwise_affine`: weight and bias of `size` values, visited as "weight" and "bias" when
// enabled; when disabled there are no parameters and the ops receive null pointers (scale 1, shift 0, no gradients).
template <class T>
class norm_affine {
 public:
  explicit norm_affine(bool enabled) : enabled_(enabled) {}
  // Sizes weight and bias, once the layer has checked `size` (vae::shape would refuse a negative one first).
  void set_size(std::int64_t size) {
    weight_.shape = {size};
    weight_.init = parameter_init::constant(1.0);
    bias_.shape = {size};
    bias_.init = parameter_init::constant(0.0);
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    if (!enabled_) return;
    visit(prefix + "weight", weight_);
    visit(prefix + "bias", bias_);
  }

  bool enabled() const { return enabled_; }
  // Whether the op can run: disabled, or the parameters are attached to a parameter_store.
  bool ready() const { return !enabled_ || weight_.bound(); }
  // What the norm ops take: the values and the gradients to add to, or null when disabled.
  const T* scale() const { return enabled_ ? weight_.value : nullptr; }
  const T* shift() const { return enabled_ ? bias_.value : nullptr; }
  T* scale_grad() { return enabled_ ? weight_.grad_to_add() : nullptr; }
  T* shift_grad() { return enabled_ ? bias_.grad_to_add() : nullptr; }
  parameter<T>& weight() { return weight_; }
  parameter<T>& bias() { return bias_; }

 private:
  bool enabled_;
  parameter<T> weight_, bias_;
};

}  // namespace vae
