// ResNetEncoder: stride-2 convolutions, residual blocks, activation, 1×1 conv to the code dimension (vqvae.py's `enc`).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vae/layers/conv2d.hpp"
#include "vae/layers/group_norm.hpp"
#include "vae/layers/res_block.hpp"
#include "vae/layers/to_memory_format.hpp"

namespace vae {

struct resnet_encoder_options {
  std::int64_t in_channels = 1;
  std::int64_t hidden = 128;         // channels after the last downsampling and through the residual blocks
  std::int64_t res_hidden = 32;      // hidden channels inside each residual block
  std::int64_t res_blocks = 2;
  std::int64_t downsamplings = 2;    // Conv(4, s2, p1) layers: the grid is image / 2^downsamplings
  std::int64_t code_dim = 64;        // D, the output channels
  std::int64_t norm_groups = 0;      // 0: none (vqvae.py); g > 0: GroupNorm in the blocks and before the last activation
  conv_activation activation = conv_activation::relu;
};

// Layout as nn.Sequential (names "i.*"): for downsampling i, Conv at 2i (channels hidden / 2^(n−1−i), the first
// from in_channels) and its activation at 2i+1; residual block j at 2n+j ("2n+j.c1.*", ".c2.*"); with norm_groups > 0
// a GroupNorm(norm_groups, hidden) next; then the activation; then the 1×1 conv hidden → code_dim.
// Defaults give vqvae.py's keys: 0, 2, 4.c1, 4.c2, 5.c1, 5.c2, 7 (with the prefix "enc.").
template <class T = float, class B = cpu>
class ResNetEncoder {
 public:
  using value_type = T;
  using backend = B;

  explicit ResNetEncoder(const resnet_encoder_options& o = {})
      : opt_(o),
        to_inner_(conv_stack_format<B>(o.norm_groups)),
        norm_(o.norm_groups > 0 ? o.norm_groups : 1, o.hidden),
        act_out_(o.activation) {
    check(o.in_channels > 0 && o.hidden > 0 && o.res_hidden > 0 && o.res_blocks >= 0 && o.downsamplings >= 1 &&
              o.code_dim > 0 && o.norm_groups >= 0,
          "ResNetEncoder: sizes must be positive (res_blocks ≥ 0, downsamplings ≥ 1, norm_groups ≥ 0)");
    check(o.hidden % (std::int64_t{1} << (o.downsamplings - 1)) == 0, [&] {
      return cat("ResNetEncoder: hidden (", o.hidden, ") must be divisible by 2^(downsamplings − 1) = ",
                 std::int64_t{1} << (o.downsamplings - 1));
    });
    std::int64_t c = o.in_channels;
    for (std::int64_t i = 0; i < o.downsamplings; ++i) {
      const std::int64_t out = o.hidden >> (o.downsamplings - 1 - i);
      downs_.emplace_back(c, out, 4, 2, 1);
      acts_.emplace_back(o.activation);
      c = out;
    }
    for (std::int64_t j = 0; j < o.res_blocks; ++j)
      blocks_.emplace_back(res_block_options{o.hidden, o.res_hidden, o.norm_groups, o.activation});
    out_.emplace_back(o.hidden, o.code_dim, 1);
    downs_.front().set_input_gradient(false);  // the data needs no gradient
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    std::int64_t idx = 0;
    for (auto& d : downs_) {
      d.visit_parameters(prefix + std::to_string(idx) + ".", visit);
      idx += 2;
    }
    for (auto& b : blocks_) b.visit_parameters(prefix + std::to_string(idx++) + ".", visit);
    if (opt_.norm_groups > 0) norm_.visit_parameters(prefix + std::to_string(idx++) + ".", visit);
    ++idx;  // the activation
    out_.front().visit_parameters(prefix + std::to_string(idx) + ".", visit);
  }

  // x: [N, in_channels, H, W] → [N, code_dim, H / 2^n, W / 2^n].
  const tensor<T, B>& forward(const tensor<T, B>& x) {
    check(x.rank() == 4 && x.dim(1) == opt_.in_channels,
          [&] { return cat("ResNetEncoder: expected input [N, ", opt_.in_channels, ", H, W], got ", x.shape()); });
    const tensor<T, B>* h = &to_inner_.forward(x);
    for (std::size_t i = 0; i < downs_.size(); ++i) h = &acts_[i].forward_after(downs_[i], *h);
    for (auto& b : blocks_) h = &b.forward(*h);
    if (opt_.norm_groups > 0) h = &norm_.forward(*h);
    h = &act_out_.forward(*h);
    return to_outer_.forward(out_.front().forward(*h));
  }

  // Returns dx, or an empty tensor when the input gradient is off (the default).
  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    // Each activation that feeds a convolution is differentiated by it (backward_through: the conv's ReLU-input
    // gradient).
    const tensor<T, B>* g = &act_out_.backward_through(out_.front(), to_outer_.backward(dy));
    if (opt_.norm_groups > 0) g = &norm_.backward(*g);
    for (auto b = blocks_.rbegin(); b != blocks_.rend(); ++b) g = &b->backward(*g);
    const std::size_t n = downs_.size();
    g = &acts_[n - 1].backward(*g);
    for (std::size_t i = n - 1; i > 0; --i) g = &acts_[i - 1].backward_through(downs_[i], *g);
    g = &downs_[0].backward(*g);
    return g->empty() ? *g : to_inner_.backward(*g);
  }

  void set_input_gradient(bool enabled) { downs_.front().set_input_gradient(enabled); }
  const resnet_encoder_options& options() const { return opt_; }

 private:
  resnet_encoder_options opt_;
  // The activations between the first convolution and the last are in the backend's convolution format (GroupNorm
  // reads NCHW, so a stack with it keeps NCHW); the interface is NCHW.
  ToMemoryFormat<T, B> to_inner_, to_outer_;
  std::vector<Conv2d<T, B>> downs_;
  std::vector<detail::switchable_activation<T, B>> acts_;
  std::vector<ResBlock<T, B>> blocks_;
  GroupNorm<T, B> norm_;
  detail::switchable_activation<T, B> act_out_;
  std::vector<Conv2d<T, B>> out_;  // one element (Conv2d has no default constructor)
};

}  // namespace vae
