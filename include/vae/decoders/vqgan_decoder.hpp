// VQGANDecoder: taming-transformers' Decoder (diffusionmodules/model.py), sized at run time: conv_in from
// z_channels, mid ResnetBlock–AttnBlock–ResnetBlock, per level (lowest resolution first) num_res_blocks + 1
// ResnetBlocks (each followed by an AttnBlock at the attention resolutions) and a ConvUpsample (all levels but the
// first), GroupNorm–SiLU–conv_out to out_channels. conv_out is the "last layer" of taming's adaptive GAN weight.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/encoders/vqgan_encoder.hpp"
#include "vae/layers/activations.hpp"
#include "vae/layers/attn_block.hpp"
#include "vae/layers/conv2d.hpp"
#include "vae/layers/conv_upsample.hpp"
#include "vae/layers/group_norm.hpp"
#include "vae/layers/resnet_block.hpp"

namespace vae {

// Defaults are taming's VQGAN (f = 16) config; ../shared/reference/vqgan.py uses ch 32, out_channels 1, ch_mult
// {1, 2, 2}, num_res_blocks 1, attn_resolutions {8}, resolution 32, z_channels 64.
struct vqgan_decoder_options {
  std::int64_t ch = 128;
  std::int64_t out_channels = 3;                           // taming's out_ch
  std::vector<std::int64_t> ch_mult = {1, 1, 2, 2, 4};
  std::int64_t num_res_blocks = 2;                         // the decoder has num_res_blocks + 1 per level (taming)
  std::vector<std::int64_t> attn_resolutions = {16};
  std::int64_t resolution = 256;                           // output image side the attention resolutions refer to
  std::int64_t z_channels = 256;
  double dropout = 0.0;
  std::int64_t norm_groups = 32;
};

// Parameter names are taming's state_dict names, in its order: "conv_in.*", "mid.block_1.*", "mid.attn_1.*",
// "mid.block_2.*", "up.<i>.block.<j>.*", "up.<i>.attn.<j>.*", "up.<i>.upsample.conv.*" (i = 0 is the highest
// resolution, run last), "norm_out.*", "conv_out.*".
template <class T = float, class B = cpu>
class VQGANDecoder {
 public:
  using value_type = T;
  using backend = B;

  explicit VQGANDecoder(const vqgan_decoder_options& o = {})
      : opt_(checked(o)),
        conv_in_(o.z_channels, o.ch * o.ch_mult.back(), 3, 1, 1),
        norm_out_(o.norm_groups, o.ch * o.ch_mult.front(), 1e-6),
        conv_out_(o.ch * o.ch_mult.front(), o.out_channels, 3, 1, 1) {
    const std::size_t levels = o.ch_mult.size();
    std::int64_t block_in = o.ch * o.ch_mult.back(), res = o.resolution >> (levels - 1);
    mid_block_1_.emplace(block_in, block_in, o.dropout, o.norm_groups);
    mid_attn_1_.emplace(block_in, o.norm_groups);
    mid_block_2_.emplace(block_in, block_in, o.dropout, o.norm_groups);
    up_.resize(levels);
    for (std::size_t i = levels; i-- > 0;) {
      const std::int64_t block_out = o.ch * o.ch_mult[i];
      for (std::int64_t j = 0; j < o.num_res_blocks + 1; ++j) {
        up_[i].block.emplace_back(block_in, block_out, o.dropout, o.norm_groups);
        block_in = block_out;
        if (detail::has_resolution(o.attn_resolutions, res)) up_[i].attn.emplace_back(block_in, o.norm_groups);
      }
      if (i != 0) {
        up_[i].upsample.emplace(block_in);
        res *= 2;
      }
    }
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    conv_in_.visit_parameters(prefix + "conv_in.", visit);
    mid_block_1_->visit_parameters(prefix + "mid.block_1.", visit);
    mid_attn_1_->visit_parameters(prefix + "mid.attn_1.", visit);
    mid_block_2_->visit_parameters(prefix + "mid.block_2.", visit);
    for (std::size_t i = 0; i < up_.size(); ++i) {
      const std::string p = prefix + "up." + std::to_string(i) + ".";
      for (std::size_t j = 0; j < up_[i].block.size(); ++j)
        up_[i].block[j].visit_parameters(p + "block." + std::to_string(j) + ".", visit);
      for (std::size_t j = 0; j < up_[i].attn.size(); ++j)
        up_[i].attn[j].visit_parameters(p + "attn." + std::to_string(j) + ".", visit);
      if (up_[i].upsample) up_[i].upsample->visit_parameters(p + "upsample.", visit);
    }
    norm_out_.visit_parameters(prefix + "norm_out.", visit);
    conv_out_.visit_parameters(prefix + "conv_out.", visit);
  }

  void set_training(bool training) {
    mid_block_1_->set_training(training);
    mid_block_2_->set_training(training);
    for (auto& l : up_)
      for (auto& b : l.block) b.set_training(training);
  }

  // z: [N, z_channels, h, w] → [N, out_channels, h · 2^(L−1), w · 2^(L−1)].
  const tensor<T, B>& forward(const tensor<T, B>& z) {
    check(z.rank() == 4 && z.dim(1) == opt_.z_channels,
          [&] { return cat("VQGANDecoder: expected input [N, ", opt_.z_channels, ", h, w], got ", z.shape()); });
    const tensor<T, B>* h = &conv_in_.forward(z);
    h = &mid_block_2_->forward(mid_attn_1_->forward(mid_block_1_->forward(*h)));
    for (auto l = up_.rbegin(); l != up_.rend(); ++l) {
      for (std::size_t j = 0; j < l->block.size(); ++j) {
        h = &l->block[j].forward(*h);
        if (!l->attn.empty()) h = &l->attn[j].forward(*h);
      }
      if (l->upsample) h = &l->upsample->forward(*h);
    }
    return conv_out_.forward(act_out_.forward(norm_out_.forward(*h)));
  }

  // Returns dL/dz.
  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    const tensor<T, B>* g = &norm_out_.backward(act_out_.backward(conv_out_.backward(dy)));
    for (auto& l : up_) {
      if (l.upsample) g = &l.upsample->backward(*g);
      for (std::size_t j = l.block.size(); j-- > 0;) {
        if (!l.attn.empty()) g = &l.attn[j].backward(*g);
        g = &l.block[j].backward(*g);
      }
    }
    g = &mid_block_1_->backward(mid_attn_1_->backward(mid_block_2_->backward(*g)));
    return conv_in_.backward(*g);
  }

  // The adaptive GAN weight's "last layer" (taming: decoder.conv_out.weight). Its name under the decoder's prefix:
  static std::string last_layer_name() { return "conv_out.weight"; }
  Conv2d<T, B>& last_layer() { return conv_out_; }
  // dw = ∂L/∂(conv_out.weight) for a loss L whose gradient with respect to the last forward's output is dy (WRITTEN,
  // shaped [out_channels, ch · ch_mult[0], 3, 3]); the parameter gradients are left alone. Call it once per loss
  // (reconstruction, generator) after forward and before the next one.
  void last_layer_weight_gradient(const tensor<T, B>& dy, tensor<T, B>& dw) { conv_out_.weight_gradient(dy, dw); }

  const vqgan_decoder_options& options() const { return opt_; }
  std::int64_t upsampling_factor() const { return std::int64_t{1} << (opt_.ch_mult.size() - 1); }

 private:
  // The options, checked before any layer is built from them.
  static const vqgan_decoder_options& checked(const vqgan_decoder_options& o) {
    detail::check_vqgan_sizes("VQGANDecoder", o.ch, o.ch_mult, o.num_res_blocks, o.resolution, o.z_channels,
                              o.norm_groups);
    check(o.out_channels > 0, [&] { return cat("VQGANDecoder: out_channels must be positive, got ", o.out_channels); });
    return o;
  }

  struct level {
    std::vector<ResnetBlock<T, B>> block;
    std::vector<AttnBlock<T, B>> attn;
    std::optional<ConvUpsample<T, B>> upsample;
  };

  vqgan_decoder_options opt_;
  Conv2d<T, B> conv_in_;
  std::optional<ResnetBlock<T, B>> mid_block_1_;
  std::optional<AttnBlock<T, B>> mid_attn_1_;
  std::optional<ResnetBlock<T, B>> mid_block_2_;
  std::vector<level> up_;
  GroupNorm<T, B> norm_out_;
  SiLU<T, B> act_out_;
  Conv2d<T, B> conv_out_;
};

}  // namespace vae
