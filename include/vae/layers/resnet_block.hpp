// ResnetBlock: taming-transformers' residual block, y = skip(x) + conv2(dropout(SiLU(GN(conv1(SiLU(GN(x))))))), with
// 3×3 convolutions and skip = x, or a 1×1 convolution (nin_shortcut) when the channel count changes.
#pragma once
#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>

#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/layers/activations.hpp"
#include "vae/layers/conv2d.hpp"
#include "vae/layers/dropout.hpp"
#include "vae/layers/group_norm.hpp"
#include "vae/ops/add.hpp"

namespace vae {

namespace detail {
// Stands in for Dropout on backends it has no kernel for (its mask loop runs on the host): only p = 0 is accepted.
template <class T, class B>
class no_dropout {
 public:
  explicit no_dropout(double p, std::uint64_t = 0) {
    check(p == 0.0, [&] {
      return cat("ResnetBlock: dropout ", p, " needs a host backend (Dropout has no device kernel); use dropout 0");
    });
  }
  void set_training(bool) {}
  const tensor<T, B>& forward(const tensor<T, B>& x) { return x; }
  const tensor<T, B>& backward(const tensor<T, B>& dy) { return dy; }
};
template <class T, class B>
using dropout_slot =
    std::conditional_t<HostBackend<B>, Dropout<T, B>, no_dropout<T, B>>;
}  // namespace detail

// Names as taming's ResnetBlock: "norm1.*", "conv1.*", "norm2.*", "conv2.*", and "nin_shortcut.*" when in_channels
// ≠ out_channels. GroupNorm has 32 groups and eps 1e-6 (taming's Normalize); norm_groups only exists so that tests
// can use a handful of channels. Dropout (taming's, between the second SiLU and conv2) is skipped when p = 0.
template <class T = float, class B = cpu>
class ResnetBlock {
 public:
  using value_type = T;
  using backend = B;

  ResnetBlock(std::int64_t in_channels, std::int64_t out_channels, double dropout = 0.0, std::int64_t norm_groups = 32)
      : in_(in_channels),
        out_(out_channels),
        norm1_(norm_groups, in_channels, 1e-6),
        conv1_(in_channels, out_channels, 3, 1, 1),
        norm2_(norm_groups, out_channels, 1e-6),
        conv2_(out_channels, out_channels, 3, 1, 1),
        dropout_(dropout),
        use_dropout_(dropout > 0.0) {
    if (in_channels != out_channels) shortcut_.emplace(in_channels, out_channels, 1);
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    norm1_.visit_parameters(prefix + "norm1.", visit);
    conv1_.visit_parameters(prefix + "conv1.", visit);
    norm2_.visit_parameters(prefix + "norm2.", visit);
    conv2_.visit_parameters(prefix + "conv2.", visit);
    if (shortcut_) shortcut_->visit_parameters(prefix + "nin_shortcut.", visit);
  }

  // Training mode switches dropout on (nothing else depends on it).
  void set_training(bool training) { dropout_.set_training(training); }

  // x: [N, in_channels, H, W] → [N, out_channels, H, W].
  const tensor<T, B>& forward(const tensor<T, B>& x) {
    check(x.rank() == 4 && x.dim(1) == in_,
          [&] { return cat("ResnetBlock::forward: expected input [N, ", in_, ", H, W], got ", x.shape()); });
    const tensor<T, B>* h = &act1_.forward(norm1_.forward(x));
    h = &act2_.forward(norm2_.forward(conv1_.forward(*h)));
    if (use_dropout_) h = &dropout_.forward(*h);
    const auto& c2 = conv2_.forward(*h);
    const tensor<T, B>& skip = shortcut_ ? shortcut_->forward(x) : x;
    y_.resize(c2.shape());
    ops::add<B>(c2.numel(), skip.data(), c2.data(), y_.data());
    x_ = &x;
    return y_;
  }

  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    check(x_ != nullptr, "ResnetBlock::backward called before forward");
    check_shape(dy.shape(), y_.shape(), "ResnetBlock::backward: dy");
    const tensor<T, B>* g = &conv2_.backward(dy);
    if (use_dropout_) g = &dropout_.backward(*g);
    g = &conv1_.backward(norm2_.backward(act2_.backward(*g)));
    g = &norm1_.backward(act1_.backward(*g));
    const tensor<T, B>& dskip = shortcut_ ? shortcut_->backward(dy) : dy;
    dx_.resize(g->shape());
    ops::add<B>(g->numel(), dskip.data(), g->data(), dx_.data());
    return dx_;
  }

  std::int64_t in_channels() const { return in_; }
  std::int64_t out_channels() const { return out_; }
  bool has_shortcut() const { return shortcut_.has_value(); }
  detail::dropout_slot<T, B>& dropout() { return dropout_; }

 private:
  std::int64_t in_, out_;
  GroupNorm<T, B> norm1_;
  Conv2d<T, B> conv1_;
  GroupNorm<T, B> norm2_;
  Conv2d<T, B> conv2_;
  std::optional<Conv2d<T, B>> shortcut_;
  SiLU<T, B> act1_, act2_;
  detail::dropout_slot<T, B> dropout_;
  bool use_dropout_;
  const tensor<T, B>* x_ = nullptr;
  tensor<T, B> y_, dx_;
};

}  // namespace vae
