// ResNetDecoder: 1×1 conv from the code dimension, residual blocks, activation, stride-2 transposed convolutions
// (vqvae.py's `dec`).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vae/layers/conv2d.hpp"
#include "vae/layers/conv_transpose2d.hpp"
#include "vae/layers/group_norm.hpp"
#include "vae/layers/res_block.hpp"
#include "vae/layers/to_memory_format.hpp"

namespace vae {

struct resnet_decoder_options {
  std::int64_t code_dim = 64;       // D, the input channels
  std::int64_t hidden = 128;        // channels of the residual blocks
  std::int64_t res_hidden = 32;
  std::int64_t res_blocks = 2;
  std::int64_t upsamplings = 2;     // ConvTranspose(4, s2, p1) layers: the image is grid · 2^upsamplings
  std::int64_t out_channels = 1;
  std::int64_t norm_groups = 0;     // 0: none (vqvae.py); g > 0: GroupNorm in the blocks and before the activation
  conv_activation activation = conv_activation::relu;
};

// Layout as nn.Sequential (names "i.*"): 1×1 conv code_dim → hidden at 0; residual block j at 1+j; with
// norm_groups > 0 a GroupNorm(norm_groups, hidden) next; then the activation; then for upsampling i a
// ConvTranspose2d (hidden / 2^i → hidden / 2^(i+1), the last → out_channels) with an activation between them.
// Defaults give vqvae.py's keys: 0, 1.c1, 1.c2, 2.c1, 2.c2, 4, 6 (with the prefix "dec.").
template <class T = float, class B = cpu>
class ResNetDecoder {
 public:
  using value_type = T;
  using backend = B;

  explicit ResNetDecoder(const resnet_decoder_options& o = {})
      : opt_(o),
        to_inner_(conv_stack_format<B>(o.norm_groups)),
        norm_(o.norm_groups > 0 ? o.norm_groups : 1, o.hidden),
        act_mid_(o.activation) {
    check(o.code_dim > 0 && o.hidden > 0 && o.res_hidden > 0 && o.res_blocks >= 0 && o.upsamplings >= 1 &&
              o.out_channels > 0 && o.norm_groups >= 0,
          "ResNetDecoder: sizes must be positive (res_blocks ≥ 0, upsamplings ≥ 1, norm_groups ≥ 0)");
    check(o.hidden % (std::int64_t{1} << (o.upsamplings - 1)) == 0, [&] {
      return cat("ResNetDecoder: hidden (", o.hidden, ") must be divisible by 2^(upsamplings − 1) = ",
                 std::int64_t{1} << (o.upsamplings - 1));
    });
    in_.emplace_back(o.code_dim, o.hidden, 1);
    for (std::int64_t j = 0; j < o.res_blocks; ++j)
      blocks_.emplace_back(res_block_options{o.hidden, o.res_hidden, o.norm_groups, o.activation});
    std::int64_t c = o.hidden;
    for (std::int64_t i = 0; i < o.upsamplings; ++i) {
      const std::int64_t out = i + 1 == o.upsamplings ? o.out_channels : c / 2;
      ups_.emplace_back(c, out, 4, 2, 1);
      if (i + 1 < o.upsamplings) acts_.emplace_back(o.activation);
      c = out;
    }
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    std::int64_t idx = 0;
    in_.front().visit_parameters(prefix + std::to_string(idx++) + ".", visit);
    for (auto& b : blocks_) b.visit_parameters(prefix + std::to_string(idx++) + ".", visit);
    if (opt_.norm_groups > 0) norm_.visit_parameters(prefix + std::to_string(idx++) + ".", visit);
    ++idx;  // the activation
    for (auto& u : ups_) {
      u.visit_parameters(prefix + std::to_string(idx) + ".", visit);
      idx += 2;
    }
  }

  // z: [N, code_dim, h, w] → [N, out_channels, h · 2^n, w · 2^n].
  const tensor<T, B>& forward(const tensor<T, B>& z) {
    check(z.rank() == 4 && z.dim(1) == opt_.code_dim,
          [&] { return cat("ResNetDecoder: expected input [N, ", opt_.code_dim, ", h, w], got ", z.shape()); });
    const tensor<T, B>* h = &in_.front().forward(to_inner_.forward(z));
    for (auto& b : blocks_) h = &b.forward(*h);
    if (opt_.norm_groups > 0) h = &norm_.forward(*h);
    h = &act_mid_.forward(*h);
    for (std::size_t i = 0; i < ups_.size(); ++i)
      h = i < acts_.size() ? &acts_[i].forward_after(ups_[i], *h) : &ups_[i].forward(*h);
    return to_outer_.forward(*h);
  }

  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    // Each activation that feeds a transposed convolution is differentiated by it (backward_through: the conv's
    // ReLU-input gradient); acts_[i] sits between ups_[i] and ups_[i + 1].
    const tensor<T, B>* g = &to_outer_.backward(dy);
    for (std::size_t i = ups_.size() - 1; i > 0; --i) g = &acts_[i - 1].backward_through(ups_[i], *g);
    g = &act_mid_.backward_through(ups_[0], *g);
    if (opt_.norm_groups > 0) g = &norm_.backward(*g);
    for (auto b = blocks_.rbegin(); b != blocks_.rend(); ++b) g = &b->backward(*g);
    const tensor<T, B>& dz = in_.front().backward(*g);
    return dz.empty() ? dz : to_inner_.backward(dz);
  }

  // The decoder input's gradient feeds the quantizer/encoder: on by default; turn off when nothing needs it.
  void set_input_gradient(bool enabled) { in_.front().set_input_gradient(enabled); }
  const resnet_decoder_options& options() const { return opt_; }

 private:
  resnet_decoder_options opt_;
  // As ResNetEncoder: the activations between the ends in the backend's convolution format (NCHW with GroupNorm).
  ToMemoryFormat<T, B> to_inner_, to_outer_;
  std::vector<Conv2d<T, B>> in_;  // one element (Conv2d has no default constructor)
  std::vector<ResBlock<T, B>> blocks_;
  GroupNorm<T, B> norm_;
  detail::switchable_activation<T, B> act_mid_;
  std::vector<ConvTranspose2d<T, B>> ups_;
  std::vector<detail::switchable_activation<T, B>> acts_;
};

}  // namespace vae
