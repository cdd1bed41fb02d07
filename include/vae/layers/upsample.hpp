// Upsample layer (PyTorch nn.Upsample(scale_factor=s, mode="nearest") with an integer s): [N, C, H, W] → [N, C, sH, sW].
#pragma once
#include <cstdint>
#include <string>

#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/ops/upsample.hpp"

namespace vae {

template <class T = float, class B = cpu>
class Upsample {
 public:
  using value_type = T;
  using backend = B;

  explicit Upsample(std::int64_t scale_factor = 2) : scale_(scale_factor) {
    check(scale_factor >= 1, [&] { return cat("Upsample: scale_factor must be a positive integer, got ", scale_factor); });
  }

  template <class Visitor>
  void visit_parameters(const std::string&, Visitor&&) {}

  const tensor<T, B>& forward(const tensor<T, B>& x) {
    check(x.rank() == 4, [&] { return cat("Upsample::forward: expected input [N, C, H, W], got ", x.shape()); });
    x_shape_ = x.shape();
    forwarded_ = true;
    y_.resize({x.dim(0), x.dim(1), x.dim(2) * scale_, x.dim(3) * scale_});
    ops::upsample_nearest_forward<B>(dims(), x.data(), y_.data());
    return y_;
  }

  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    check(forwarded_, "Upsample::backward called before forward");
    check_shape(dy.shape(), y_.shape(), "Upsample::backward: dy");
    dx_.resize(x_shape_);
    ops::upsample_nearest_backward<B>(dims(), dy.data(), dx_.data());
    return dx_;
  }

  std::int64_t scale_factor() const { return scale_; }

 private:
  upsample_dims dims() const { return {x_shape_[0] * x_shape_[1], x_shape_[2], x_shape_[3], scale_}; }

  std::int64_t scale_;
  bool forwarded_ = false;
  vae::shape x_shape_;
  tensor<T, B> y_, dx_;
};

}  // namespace vae
