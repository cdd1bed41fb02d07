// MaxPool2d layer (PyTorch nn.MaxPool2d(kernel, stride, padding), dilation 1, ceil_mode=False), NCHW.
#pragma once
#include <cstdint>
#include <string>

#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/ops/max_pool2d.hpp"

namespace vae {

template <class T = float, class B = cpu>
class MaxPool2d {
 public:
  using value_type = T;
  using backend = B;

  // stride 0 means "= kernel_size" (PyTorch's stride=None).
  explicit MaxPool2d(std::int64_t kernel_size, std::int64_t stride = 0, std::int64_t padding = 0)
      : k_(kernel_size), stride_(stride == 0 ? kernel_size : stride), pad_(padding) {
    check(kernel_size > 0 && stride >= 0 && padding >= 0 && 2 * padding <= kernel_size, [&] {
      return cat("MaxPool2d: expected kernel > 0, stride ≥ 0, 0 ≤ padding ≤ kernel/2, got kernel=", kernel_size,
                 " stride=", stride, " padding=", padding);
    });
  }

  template <class Visitor>
  void visit_parameters(const std::string&, Visitor&&) {}

  const tensor<T, B>& forward(const tensor<T, B>& x) {
    check(x.rank() == 4, [&] { return cat("MaxPool2d::forward: expected input [N, C, H, W], got ", x.shape()); });
    check(x.dim(2) + 2 * pad_ >= k_ && x.dim(3) + 2 * pad_ >= k_, [&] {
      return cat("MaxPool2d::forward: input ", x.shape(), " is smaller than the kernel ", k_, " (padding ", pad_, ")");
    });
    check(x.dim(2) * x.dim(3) <= std::int64_t{2147483647}, [&] {
      return cat("MaxPool2d::forward: planes of ", x.dim(2), "x", x.dim(3), " exceed the int32 argmax index");
    });
    max_pool2d_dims d{x.dim(0) * x.dim(1), x.dim(2), x.dim(3), k_, stride_, pad_};
    d.finish();
    x_shape_ = x.shape();
    d_ = d;
    forwarded_ = true;
    y_.resize({x.dim(0), x.dim(1), d.out_h, d.out_w});
    argmax_.resize(y_.shape());
    ops::max_pool2d_forward<B>(d, x.data(), y_.data(), argmax_.data());
    return y_;
  }

  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    check(forwarded_, "MaxPool2d::backward called before forward");
    check_shape(dy.shape(), y_.shape(), "MaxPool2d::backward: dy");
    dx_.resize(x_shape_);
    ops::max_pool2d_backward<B>(d_, dy.data(), argmax_.data(), dx_.data());
    return dx_;
  }

 private:
  std::int64_t k_, stride_, pad_;
  bool forwarded_ = false;
  max_pool2d_dims d_{};
  vae::shape x_shape_;
  tensor<T, B> y_, dx_;
  tensor<std::int32_t, B> argmax_;
};

}  // namespace vae
