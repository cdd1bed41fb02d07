// ConvUpsample: taming-transformers' Upsample (with_conv): nearest-neighbour ×2, then a 3×3 convolution (padding 1).
#pragma once
#include <cstdint>
#include <string>

#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/layers/conv2d.hpp"
#include "vae/layers/upsample.hpp"

namespace vae {

// Names as taming: "conv.weight" [C, C, 3, 3], "conv.bias" [C].
template <class T = float, class B = cpu>
class ConvUpsample {
 public:
  using value_type = T;
  using backend = B;

  explicit ConvUpsample(std::int64_t channels) : c_(channels), up_(2), conv_(channels, channels, 3, 1, 1) {}

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    conv_.visit_parameters(prefix + "conv.", visit);
  }

  // x: [N, C, H, W] → [N, C, 2H, 2W].
  const tensor<T, B>& forward(const tensor<T, B>& x) {
    check(x.rank() == 4 && x.dim(1) == c_,
          [&] { return cat("ConvUpsample::forward: expected input [N, ", c_, ", H, W], got ", x.shape()); });
    return conv_.forward(up_.forward(x));
  }

  const tensor<T, B>& backward(const tensor<T, B>& dy) { return up_.backward(conv_.backward(dy)); }

  std::int64_t channels() const { return c_; }
  Conv2d<T, B>& conv() { return conv_; }

 private:
  std::int64_t c_;
  Upsample<T, B> up_;
  Conv2d<T, B> conv_;
};

}  // namespace vae
