// ConvDownsample: taming-transformers' Downsample (with_conv): zero padding of one row and column at the bottom and
// right, then a 3×3 stride-2 convolution, halving H and W (even sizes). Not to be confused with layers/downsample.hpp
// (an average pool without parameters).
#pragma once
#include <cstdint>
#include <string>

#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/layers/conv2d.hpp"
#include "vae/ops/pad2d.hpp"

namespace vae {

// Names as taming: "conv.weight" [C, C, 3, 3], "conv.bias" [C].
template <class T = float, class B = cpu>
class ConvDownsample {
 public:
  using value_type = T;
  using backend = B;

  explicit ConvDownsample(std::int64_t channels) : c_(channels), conv_(channels, channels, 3, 2, 0) {}

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    conv_.visit_parameters(prefix + "conv.", visit);
  }

  // x: [N, C, H, W] → [N, C, H / 2, W / 2] (⌊H / 2⌋ for odd H, as PyTorch).
  const tensor<T, B>& forward(const tensor<T, B>& x) {
    check(x.rank() == 4 && x.dim(1) == c_ && x.dim(2) >= 2 && x.dim(3) >= 2, [&] {
      return cat("ConvDownsample::forward: expected input [N, ", c_, ", H ≥ 2, W ≥ 2], got ", x.shape());
    });
    pad_ = pad2d_dims{x.dim(0) * c_, x.dim(2), x.dim(3), 0, 1, 0, 1};
    padded_.resize({x.dim(0), c_, pad_.out_h(), pad_.out_w()});
    ops::pad2d_forward<B>(pad_, x.data(), padded_.data());
    forwarded_ = true;
    return conv_.forward(padded_);
  }

  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    check(forwarded_, "ConvDownsample::backward called before forward");
    const auto& g = conv_.backward(dy);
    dx_.resize({pad_.planes / c_, c_, pad_.h, pad_.w});
    ops::pad2d_backward<B>(pad_, g.data(), dx_.data());
    return dx_;
  }

  std::int64_t channels() const { return c_; }
  Conv2d<T, B>& conv() { return conv_; }

 private:
  std::int64_t c_;
  Conv2d<T, B> conv_;
  pad2d_dims pad_{};
  bool forwarded_ = false;
  tensor<T, B> padded_, dx_;
};

}  // namespace vae
