// ResBlock: y = x + c2(act(c1(act(x)))) with c1 3×3 channels→hidden, c2 1×1 hidden→channels (vqvae.py's Res),
// optionally GroupNorm before each activation, and a run-time choice of ReLU or SiLU.
#pragma once
#include <cstdint>
#include <string>

#include "vae/core/memory_format.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/layers/activations.hpp"
#include "vae/layers/conv2d.hpp"
#include "vae/layers/group_norm.hpp"
#include "vae/ops/add.hpp"

namespace vae {

// The activation of the conv stacks (ResBlock, ResNetEncoder, ResNetDecoder), chosen at run time from a config.
enum class conv_activation { relu, silu };

namespace detail {
// ReLU or SiLU picked at construction; one instance per use (it keeps its input for backward).
template <class T, class B>
class switchable_activation {
 public:
  using value_type = T;
  using backend = B;

  explicit switchable_activation(conv_activation kind = conv_activation::relu) : kind_(kind) {}

  template <class Visitor>
  void visit_parameters(const std::string&, Visitor&&) {}

  const tensor<T, B>& forward(const tensor<T, B>& x) {
    return kind_ == conv_activation::relu ? relu_.forward(x) : silu_.forward(x);
  }
  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    return kind_ == conv_activation::relu ? relu_.backward(dy) : silu_.backward(dy);
  }
  // act(conv(x)): a ReLU is the convolution's epilogue (conv_output::relu, fused where the backend can) and passes
  // through here; the values and gradients are those of the two layers one by one.
  template <class Conv>
  const tensor<T, B>& forward_after(Conv& conv, const tensor<T, B>& x) {
    if (kind_ == conv_activation::relu) return relu_.forward_fused(conv.forward(x, {.relu = true}));
    return forward(conv.forward(x));
  }
  // backward(next.backward(dy)) for the layer `next` that reads this activation's output: a ReLU's derivative is
  // applied by that layer where it writes its input gradient (conv_input_grad::relu_input) and passes through.
  template <class Next>
  const tensor<T, B>& backward_through(Next& next, const tensor<T, B>& dy) {
    if (kind_ == conv_activation::relu) return relu_.backward_through(next, dy);
    return backward(next.backward(dy));
  }
  // residual + backward(conv.backward(dy)) where that fuses into the conv's input gradient (a ReLU); null
  // otherwise, and nothing was computed.
  template <class Conv>
  const tensor<T, B>* backward_through_add(Conv& conv, const tensor<T, B>& dy, const tensor<T, B>& residual) {
    if (kind_ == conv_activation::relu)
      return &relu_.backward_fused(conv.backward(dy, {.relu_input = true, .residual = &residual}));
    return nullptr;
  }

 private:
  conv_activation kind_;
  ReLU<T, B> relu_;
  SiLU<T, B> silu_;
};
}  // namespace detail

// The format a stack of convolutions (ResBlock, ResNetEncoder, ResNetDecoder) keeps its activations in between its
// ends: the one its backend's convolutions compute in, unless GroupNorm (which reads NCHW) sits in the stack.
template <class B>
memory_format conv_stack_format(std::int64_t norm_groups) {
  return norm_groups > 0 ? memory_format::channels_first : ops::conv_activation_format<B>();
}

struct res_block_options {
  std::int64_t channels = 128;    // input = output channels
  std::int64_t hidden = 32;       // channels between the 3×3 and the 1×1 convolution
  std::int64_t norm_groups = 0;   // 0: no normalisation (vqvae.py); g > 0: GroupNorm(g, ·) before each activation
  conv_activation activation = conv_activation::relu;
};

// Names: "c1.weight", "c1.bias", "c2.weight", "c2.bias" (as vqvae.py's Res); with norm_groups > 0 also
// "norm1.weight/bias" (over channels, before the first activation) and "norm2.weight/bias" (over hidden).
template <class T = float, class B = cpu>
class ResBlock {
 public:
  using value_type = T;
  using backend = B;

  explicit ResBlock(const res_block_options& o)
      : opt_(o),
        c1_(o.channels, o.hidden, 3, 1, 1),
        c2_(o.hidden, o.channels, 1),
        norm1_(o.norm_groups > 0 ? o.norm_groups : 1, o.channels),
        norm2_(o.norm_groups > 0 ? o.norm_groups : 1, o.hidden),
        act1_(o.activation),
        act2_(o.activation) {}
  ResBlock(std::int64_t channels, std::int64_t hidden) : ResBlock(res_block_options{channels, hidden}) {}

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    if (opt_.norm_groups > 0) norm1_.visit_parameters(prefix + "norm1.", visit);
    c1_.visit_parameters(prefix + "c1.", visit);
    if (opt_.norm_groups > 0) norm2_.visit_parameters(prefix + "norm2.", visit);
    c2_.visit_parameters(prefix + "c2.", visit);
  }

  // x: [N, channels, H, W] (or [N, H, W, channels], channels last: the convolutions keep the format) → same shape.
  // GroupNorm reads NCHW, so a block with norm_groups > 0 takes channels-first input.
  const tensor<T, B>& forward(const tensor<T, B>& x) {
    check(opt_.norm_groups == 0 || x.format() == memory_format::channels_first,
          "ResBlock::forward: GroupNorm needs channels_first activations");
    check_activation("ResBlock::forward", x.shape(), x.format(), opt_.channels);
    const tensor<T, B>* h = &x;
    if (opt_.norm_groups > 0) h = &norm1_.forward(*h);
    h = &act1_.forward(*h);
    if (opt_.norm_groups > 0) {
      h = &norm2_.forward(c1_.forward(*h));
      h = &act2_.forward(*h);
    } else {
      h = &act2_.forward_after(c1_, *h);
    }
    out_ = &c2_.forward(*h, {.residual = &x});  // the skip connection is c2's epilogue
    return *out_;
  }

  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    check(out_ != nullptr, "ResBlock::backward called before forward");
    check_shape(dy.shape(), out_->shape(), "ResBlock::backward: dy");
    const tensor<T, B>* g = &act2_.backward_through(c2_, dy);
    if (opt_.norm_groups > 0) g = &norm2_.backward(*g);
    if (opt_.norm_groups == 0) {  // dx = dy + act1'·(c1's input gradient), written by c1
      if (const tensor<T, B>* dx = act1_.backward_through_add(c1_, *g, dy)) return *dx;
    }
    g = &c1_.backward(*g);
    g = &act1_.backward(*g);
    if (opt_.norm_groups > 0) g = &norm1_.backward(*g);
    dx_.resize(dy.shape());
    dx_.set_format(out_->format());
    ops::add<B>(dy.numel(), dy.data(), g->data(), dx_.data());
    return dx_;
  }

  const res_block_options& options() const { return opt_; }
  Conv2d<T, B>& c1() { return c1_; }
  Conv2d<T, B>& c2() { return c2_; }

 private:
  res_block_options opt_;
  Conv2d<T, B> c1_, c2_;
  GroupNorm<T, B> norm1_, norm2_;
  detail::switchable_activation<T, B> act1_, act2_;
  tensor<T, B> dx_;
  const tensor<T, B>* out_ = nullptr;  // c2's output with the skip added
};

}  // namespace vae
