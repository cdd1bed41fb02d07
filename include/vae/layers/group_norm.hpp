// GroupNorm layer (PyTorch nn.GroupNorm): normalises each sample over groups of channels; weight, bias [C].
#pragma once
#include <cstdint>
#include <string>

#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/layers/norm_affine.hpp"
#include "vae/ops/group_norm.hpp"

namespace vae {

template <class T = float, class B = cpu>
class GroupNorm {
 public:
  using value_type = T;
  using backend = B;

  GroupNorm(std::int64_t num_groups, std::int64_t num_channels, double eps = 1e-5, bool affine = true)
      : groups_(num_groups), channels_(num_channels), eps_(eps), affine_(affine) {
    check(num_groups > 0 && num_channels > 0 && num_channels % num_groups == 0, [&] {
      return cat("GroupNorm: num_channels must be a positive multiple of num_groups, got num_groups=", num_groups,
                 " num_channels=", num_channels);
    });
    check(eps >= 0, [&] { return cat("GroupNorm: eps must be non-negative, got ", eps); });
    affine_.set_size(channels_);
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    affine_.visit_parameters(prefix, visit);
  }

  // x: [N, C, *] → y: same shape.
  const tensor<T, B>& forward(const tensor<T, B>& x) {
    check(affine_.ready(), "GroupNorm::forward: parameters are not attached to a parameter_store");
    check(x.rank() >= 2 && x.dim(1) == channels_,
          [&] { return cat("GroupNorm::forward: expected input [N, ", channels_, ", *], got ", x.shape()); });
    x_ = &x;
    y_.resize(x.shape());
    const auto d = dims(x);
    mean_.resize({d.batch * groups_});
    rstd_.resize({d.batch * groups_});
    ops::group_norm_forward<B>(d, eps_, x.data(), affine_.scale(), affine_.shift(), y_.data(), mean_.data(), rstd_.data());
    return y_;
  }

  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    check(x_ != nullptr, "GroupNorm::backward called before forward");
    check_shape(dy.shape(), y_.shape(), "GroupNorm::backward: dy");
    dx_.resize(x_->shape());
    ops::group_norm_backward<B>(dims(*x_), x_->data(), affine_.scale(), mean_.data(), rstd_.data(),
                                dy.data(), dx_.data(), affine_.scale_grad(), affine_.shift_grad());
    return dx_;
  }

  std::int64_t num_groups() const { return groups_; }
  std::int64_t num_channels() const { return channels_; }
  double eps() const { return eps_; }
  bool affine() const { return affine_.enabled(); }
  parameter<T>& weight() { return affine_.weight(); }
  parameter<T>& bias() { return affine_.bias(); }

 private:
  group_norm_dims dims(const tensor<T, B>& x) const {
    const std::int64_t n = x.dim(0);
    return {n, channels_, groups_, n * channels_ > 0 ? x.numel() / (n * channels_) : 0};
  }

  std::int64_t groups_, channels_;
  double eps_;
  norm_affine<T> affine_;
  const tensor<T, B>* x_ = nullptr;
  tensor<T, B> y_, dx_, mean_, rstd_;
};

}  // namespace vae
