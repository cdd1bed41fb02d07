// VQGANEncoder: taming-transformers' Encoder (diffusionmodules/model.py), sized at run time: conv_in, per level
// num_res_blocks ResnetBlocks (each followed by an AttnBlock at the attention resolutions) and a ConvDownsample
// (all levels but the last), mid ResnetBlock–AttnBlock–ResnetBlock, GroupNorm–SiLU–conv_out to z_channels.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/layers/activations.hpp"
#include "vae/layers/attn_block.hpp"
#include "vae/layers/conv2d.hpp"
#include "vae/layers/conv_downsample.hpp"
#include "vae/layers/group_norm.hpp"
#include "vae/layers/resnet_block.hpp"

namespace vae {

// Defaults are taming's VQGAN (f = 16) config; ../shared/reference/vqgan.py uses ch 32, ch_mult {1, 2, 2},
// num_res_blocks 1, attn_resolutions {8}, in_channels 1, resolution 32, z_channels 64.
struct vqgan_encoder_options {
  std::int64_t ch = 128;                                   // channels of the first level
  std::vector<std::int64_t> ch_mult = {1, 1, 2, 2, 4};     // level i has ch · ch_mult[i] channels
  std::int64_t num_res_blocks = 2;                         // ResnetBlocks per level
  std::vector<std::int64_t> attn_resolutions = {16};       // levels whose resolution is listed get AttnBlocks
  std::int64_t in_channels = 3;
  std::int64_t resolution = 256;                           // image side the attention resolutions refer to
  std::int64_t z_channels = 256;
  bool double_z = false;                                   // conv_out to 2·z_channels (taming's LDM option)
  double dropout = 0.0;
  std::int64_t norm_groups = 32;                           // taming's Normalize; smaller only for tests
};

namespace detail {
inline void check_vqgan_sizes(const char* who, std::int64_t ch, const std::vector<std::int64_t>& ch_mult,
                              std::int64_t num_res_blocks, std::int64_t resolution, std::int64_t z_channels,
                              std::int64_t norm_groups) {
  check(ch > 0 && !ch_mult.empty() && num_res_blocks >= 0 && resolution > 0 && z_channels > 0 && norm_groups > 0,
        [&] {
          return cat(who, ": expected ch > 0, a non-empty ch_mult, num_res_blocks ≥ 0, resolution > 0, z_channels > 0",
                     " and norm_groups > 0, got ch=", ch, " ch_mult of ", ch_mult.size(), " levels, num_res_blocks=",
                     num_res_blocks, " resolution=", resolution, " z_channels=", z_channels, " norm_groups=",
                     norm_groups);
        });
  for (const auto m : ch_mult)
    check(m > 0 && (ch * m) % norm_groups == 0, [&] {
      return cat(who, ": every level's channels ch · ch_mult (", ch, " · ", m, ") must be a positive multiple of ",
                 "norm_groups (", norm_groups, ")");
    });
}
inline bool has_resolution(const std::vector<std::int64_t>& list, std::int64_t r) {
  for (const auto v : list)
    if (v == r) return true;
  return false;
}
}  // namespace detail

// Parameter names are taming's state_dict names: "conv_in.*", "down.<i>.block.<j>.{norm1,conv1,norm2,conv2,
// nin_shortcut}.*", "down.<i>.attn.<j>.{norm,q,k,v,proj_out}.*", "down.<i>.downsample.conv.*",
// "mid.block_1.*", "mid.attn_1.*", "mid.block_2.*", "norm_out.*", "conv_out.*", in taming's order.
template <class T = float, class B = cpu>
class VQGANEncoder {
 public:
  using value_type = T;
  using backend = B;

  explicit VQGANEncoder(const vqgan_encoder_options& o = {})
      : opt_(checked(o)),
        conv_in_(o.in_channels, o.ch, 3, 1, 1),
        norm_out_(o.norm_groups, o.ch * o.ch_mult.back(), 1e-6),
        conv_out_(o.ch * o.ch_mult.back(), o.double_z ? 2 * o.z_channels : o.z_channels, 3, 1, 1) {
    std::int64_t res = o.resolution, block_in = o.ch;
    const std::size_t levels = o.ch_mult.size();
    down_.resize(levels);
    for (std::size_t i = 0; i < levels; ++i) {
      const std::int64_t block_out = o.ch * o.ch_mult[i];
      for (std::int64_t j = 0; j < o.num_res_blocks; ++j) {
        down_[i].block.emplace_back(block_in, block_out, o.dropout, o.norm_groups);
        block_in = block_out;
        if (detail::has_resolution(o.attn_resolutions, res)) down_[i].attn.emplace_back(block_in, o.norm_groups);
      }
      if (i + 1 != levels) {
        down_[i].downsample.emplace(block_in);
        res /= 2;
      }
    }
    mid_block_1_.emplace(block_in, block_in, o.dropout, o.norm_groups);
    mid_attn_1_.emplace(block_in, o.norm_groups);
    mid_block_2_.emplace(block_in, block_in, o.dropout, o.norm_groups);
    conv_in_.set_input_gradient(false);  // the images need no gradient
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    conv_in_.visit_parameters(prefix + "conv_in.", visit);
    for (std::size_t i = 0; i < down_.size(); ++i) {
      const std::string p = prefix + "down." + std::to_string(i) + ".";
      for (std::size_t j = 0; j < down_[i].block.size(); ++j)
        down_[i].block[j].visit_parameters(p + "block." + std::to_string(j) + ".", visit);
      for (std::size_t j = 0; j < down_[i].attn.size(); ++j)
        down_[i].attn[j].visit_parameters(p + "attn." + std::to_string(j) + ".", visit);
      if (down_[i].downsample) down_[i].downsample->visit_parameters(p + "downsample.", visit);
    }
    mid_block_1_->visit_parameters(prefix + "mid.block_1.", visit);
    mid_attn_1_->visit_parameters(prefix + "mid.attn_1.", visit);
    mid_block_2_->visit_parameters(prefix + "mid.block_2.", visit);
    norm_out_.visit_parameters(prefix + "norm_out.", visit);
    conv_out_.visit_parameters(prefix + "conv_out.", visit);
  }

  // Dropout in the ResnetBlocks (nothing else depends on the mode).
  void set_training(bool training) {
    for (auto& l : down_)
      for (auto& b : l.block) b.set_training(training);
    mid_block_1_->set_training(training);
    mid_block_2_->set_training(training);
  }
  // The input gradient is off by default (images need none); on, backward returns dL/dx.
  void set_input_gradient(bool enabled) { conv_in_.set_input_gradient(enabled); }

  // x: [N, in_channels, H, W] → [N, z_channels (2·z_channels with double_z), H / 2^(L−1), W / 2^(L−1)].
  const tensor<T, B>& forward(const tensor<T, B>& x) {
    check(x.rank() == 4 && x.dim(1) == opt_.in_channels,
          [&] { return cat("VQGANEncoder: expected input [N, ", opt_.in_channels, ", H, W], got ", x.shape()); });
    const tensor<T, B>* h = &conv_in_.forward(x);
    for (auto& l : down_) {
      for (std::size_t j = 0; j < l.block.size(); ++j) {
        h = &l.block[j].forward(*h);
        if (!l.attn.empty()) h = &l.attn[j].forward(*h);
      }
      if (l.downsample) h = &l.downsample->forward(*h);
    }
    h = &mid_block_2_->forward(mid_attn_1_->forward(mid_block_1_->forward(*h)));
    return conv_out_.forward(act_out_.forward(norm_out_.forward(*h)));
  }

  // Returns dx, or an empty tensor while the input gradient is off (the default).
  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    const tensor<T, B>* g = &norm_out_.backward(act_out_.backward(conv_out_.backward(dy)));
    g = &mid_block_1_->backward(mid_attn_1_->backward(mid_block_2_->backward(*g)));
    for (auto l = down_.rbegin(); l != down_.rend(); ++l) {
      if (l->downsample) g = &l->downsample->backward(*g);
      for (std::size_t j = l->block.size(); j-- > 0;) {
        if (!l->attn.empty()) g = &l->attn[j].backward(*g);
        g = &l->block[j].backward(*g);
      }
    }
    return conv_in_.backward(*g);
  }

  const vqgan_encoder_options& options() const { return opt_; }
  // Output channels (z_channels, doubled with double_z) and the downsampling factor 2^(levels − 1).
  std::int64_t out_channels() const { return opt_.double_z ? 2 * opt_.z_channels : opt_.z_channels; }
  std::int64_t downsampling_factor() const { return std::int64_t{1} << (opt_.ch_mult.size() - 1); }

 private:
  // The options, checked before any layer is built from them.
  static const vqgan_encoder_options& checked(const vqgan_encoder_options& o) {
    detail::check_vqgan_sizes("VQGANEncoder", o.ch, o.ch_mult, o.num_res_blocks, o.resolution, o.z_channels,
                              o.norm_groups);
    check(o.in_channels > 0, [&] { return cat("VQGANEncoder: in_channels must be positive, got ", o.in_channels); });
    return o;
  }

  struct level {
    std::vector<ResnetBlock<T, B>> block;
    std::vector<AttnBlock<T, B>> attn;
    std::optional<ConvDownsample<T, B>> downsample;
  };

  vqgan_encoder_options opt_;
  Conv2d<T, B> conv_in_;
  std::vector<level> down_;
  std::optional<ResnetBlock<T, B>> mid_block_1_;
  std::optional<AttnBlock<T, B>> mid_attn_1_;
  std::optional<ResnetBlock<T, B>> mid_block_2_;
  GroupNorm<T, B> norm_out_;
  SiLU<T, B> act_out_;
  Conv2d<T, B> conv_out_;
};

}  // namespace vae
