// Downsample layer: 2×2 average pooling with stride 2 (nn.AvgPool2d(2, 2)), halving H and W.
#pragma once
#include <string>

#include "vae/layers/avg_pool2d.hpp"

namespace vae {

template <class T = float, class B = cpu>
class Downsample {
 public:
  using value_type = T;
  using backend = B;

  Downsample() = default;

  template <class Visitor>
  void visit_parameters(const std::string&, Visitor&&) {}

  // x: [N, C, H, W] → [N, C, H/2, W/2] (odd sizes drop the last row/column, as PyTorch).
  const tensor<T, B>& forward(const tensor<T, B>& x) {
    check(x.rank() == 4, [&] { return cat("Downsample::forward: expected input [N, C, H, W], got ", x.shape()); });
    return pool_.forward(x);
  }
  const tensor<T, B>& backward(const tensor<T, B>& dy) { return pool_.backward(dy); }

 private:
  AvgPool2d<T, B> pool_{2, 2};
};

}  // namespace vae
