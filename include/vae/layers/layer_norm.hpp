// LayerNorm layer (PyTorch nn.LayerNorm over the last dimension): normalises each row; weight, bias [D].
#pragma once
#include <cstdint>
#include <string>

#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/layers/norm_affine.hpp"
#include "vae/ops/layer_norm.hpp"

namespace vae {

// normalized_shape is a single size D (the last dimension), as nn.LayerNorm(D).
template <class T = float, class B = cpu>
class LayerNorm {
 public:
  using value_type = T;
  using backend = B;

  explicit LayerNorm(std::int64_t normalized_shape, double eps = 1e-5, bool elementwise_affine = true)
      : features_(normalized_shape), eps_(eps), affine_(elementwise_affine) {
    check(normalized_shape > 0,
          [&] { return cat("LayerNorm: normalized_shape must be positive, got ", normalized_shape); });
    check(eps >= 0, [&] { return cat("LayerNorm: eps must be non-negative, got ", eps); });
    affine_.set_size(features_);
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    affine_.visit_parameters(prefix, visit);
  }

  // x: [..., D] → y: same shape.
  const tensor<T, B>& forward(const tensor<T, B>& x) {
    check(affine_.ready(), "LayerNorm::forward: parameters are not attached to a parameter_store");
    check(x.rank() >= 1 && x.dim(x.rank() - 1) == features_,
          [&] { return cat("LayerNorm::forward: expected input [..., ", features_, "], got ", x.shape()); });
    x_ = &x;
    y_.resize(x.shape());
    const auto d = dims(x);
    mean_.resize({d.rows});
    rstd_.resize({d.rows});
    ops::layer_norm_forward<B>(d, eps_, x.data(), affine_.scale(), affine_.shift(), y_.data(), mean_.data(), rstd_.data());
    return y_;
  }

  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    check(x_ != nullptr, "LayerNorm::backward called before forward");
    check_shape(dy.shape(), y_.shape(), "LayerNorm::backward: dy");
    dx_.resize(x_->shape());
    ops::layer_norm_backward<B>(dims(*x_), x_->data(), affine_.scale(), mean_.data(), rstd_.data(),
                                dy.data(), dx_.data(), affine_.scale_grad(), affine_.shift_grad());
    return dx_;
  }

  std::int64_t normalized_shape() const { return features_; }
  double eps() const { return eps_; }
  bool elementwise_affine() const { return affine_.enabled(); }
  parameter<T>& weight() { return affine_.weight(); }
  parameter<T>& bias() { return affine_.bias(); }

 private:
  layer_norm_dims dims(const tensor<T, B>& x) const { return {x.numel() / features_, features_}; }

  std::int64_t features_;
  double eps_;
  norm_affine<T> affine_;
  const tensor<T, B>* x_ = nullptr;
  tensor<T, B> y_, dx_, mean_, rstd_;
};

}  // namespace vae
