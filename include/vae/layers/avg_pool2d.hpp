// AvgPool2d layer (PyTorch nn.AvgPool2d(kernel, stride, padding), count_include_pad=True, ceil_mode=False), NCHW.
#pragma once
#include <cstdint>
#include <string>

#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/ops/avg_pool2d.hpp"

namespace vae {

template <class T = float, class B = cpu>
class AvgPool2d {
 public:
  using value_type = T;
  using backend = B;

  // stride 0 means "= kernel_size" (PyTorch's stride=None).
  explicit AvgPool2d(std::int64_t kernel_size, std::int64_t stride = 0, std::int64_t padding = 0)
      : k_(kernel_size), stride_(stride == 0 ? kernel_size : stride), pad_(padding) {
    check(kernel_size > 0 && stride >= 0 && padding >= 0 && 2 * padding <= kernel_size, [&] {
      return cat("AvgPool2d: expected kernel > 0, stride ≥ 0, 0 ≤ padding ≤ kernel/2, got kernel=", kernel_size,
                 " stride=", stride, " padding=", padding);
    });
  }

  template <class Visitor>
  void visit_parameters(const std::string&, Visitor&&) {}

  const tensor<T, B>& forward(const tensor<T, B>& x) {
    check(x.rank() == 4, [&] { return cat("AvgPool2d::forward: expected input [N, C, H, W], got ", x.shape()); });
    avg_pool2d_dims d{x.dim(0) * x.dim(1), x.dim(2), x.dim(3), k_, stride_, pad_};
    d.finish();
    check(x.dim(2) + 2 * pad_ >= k_ && x.dim(3) + 2 * pad_ >= k_, [&] {
      return cat("AvgPool2d::forward: input ", x.shape(), " is smaller than the kernel ", k_, " (padding ", pad_, ")");
    });
    x_shape_ = x.shape();
    d_ = d;
    forwarded_ = true;
    y_.resize({x.dim(0), x.dim(1), d.out_h, d.out_w});
    ops::avg_pool2d_forward<B>(d, x.data(), y_.data());
    return y_;
  }

  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    check(forwarded_, "AvgPool2d::backward called before forward");
    check_shape(dy.shape(), y_.shape(), "AvgPool2d::backward: dy");
    dx_.resize(x_shape_);
    ops::avg_pool2d_backward<B>(d_, dy.data(), dx_.data());
    return dx_;
  }

 private:
  std::int64_t k_, stride_, pad_;
  bool forwarded_ = false;
  avg_pool2d_dims d_{};
  vae::shape x_shape_;
  tensor<T, B> y_, dx_;
};

}  // namespace vae
