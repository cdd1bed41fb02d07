// TransformerBlock (nanoGPT's Block, pre-LN): x + attn(ln_1(x)), then + mlp(ln_2(·)) with mlp = c_fc (4C), GELU,
// c_proj (C); a KV-cache forward for incremental decoding.
#pragma once
#include <cstdint>
#include <string>

#include "vae/core/error.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/layers/activations.hpp"
#include "vae/layers/layer_norm.hpp"
#include "vae/layers/linear.hpp"
#include "vae/ops/add.hpp"
#include "vae/transformer/causal_self_attention.hpp"
#include "vae/transformer/kv_cache.hpp"

namespace vae {

// Parameters, as nanoGPT: "ln_1.*", "attn.c_attn.*", "attn.c_proj.*", "ln_2.*", "mlp.c_fc.*", "mlp.c_proj.*".
// The GELU is PyTorch's default (exact, erf) form.
template <class T = float, class B = cpu>
class TransformerBlock {
 public:
  using value_type = T;
  using backend = B;

  TransformerBlock(std::int64_t n_embd, std::int64_t n_head)
      : ln_1_(n_embd), attn_(n_embd, n_head), ln_2_(n_embd), c_fc_(n_embd, 4 * n_embd), c_proj_(4 * n_embd, n_embd) {}

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    ln_1_.visit_parameters(prefix + "ln_1.", visit);
    attn_.visit_parameters(prefix + "attn.", visit);
    ln_2_.visit_parameters(prefix + "ln_2.", visit);
    c_fc_.visit_parameters(prefix + "mlp.c_fc.", visit);
    c_proj_.visit_parameters(prefix + "mlp.c_proj.", visit);
  }

  // x: [B, T, C] → [B, T, C].
  const tensor<T, B>& forward(const tensor<T, B>& x) {
    return residuals(x, attn_.forward(ln_1_.forward(x)));
  }

  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    check_shape(dy.shape(), out_.shape(), "TransformerBlock::backward: dy");
    const auto& dm = ln_2_.backward(c_fc_.backward(gelu_.backward(c_proj_.backward(dy))));
    dh_.resize(dy.shape());
    ops::add<B>(dy.numel(), dy.data(), dm.data(), dh_.data());
    const auto& da = ln_1_.backward(attn_.backward(dh_));
    dx_.resize(dy.shape());
    ops::add<B>(dy.numel(), dh_.data(), da.data(), dx_.data());
    return dx_;
  }

  // Incremental decoding (see CausalSelfAttention::forward_cached). No backward.
  const tensor<T, B>& forward_cached(const tensor<T, B>& x, const kv_cache_slot<T>& slot) {
    return residuals(x, attn_.forward_cached(ln_1_.forward(x), slot));
  }

  CausalSelfAttention<T, B>& attn() { return attn_; }
  LayerNorm<T, B>& ln_1() { return ln_1_; }
  LayerNorm<T, B>& ln_2() { return ln_2_; }
  Linear<T, B>& c_fc() { return c_fc_; }
  Linear<T, B>& c_proj() { return c_proj_; }

 private:
  // From the attention's output a: h = x + a, then h + mlp(ln_2(h)).
  const tensor<T, B>& residuals(const tensor<T, B>& x, const tensor<T, B>& a) {
    h_.resize(x.shape());
    ops::add<B>(x.numel(), x.data(), a.data(), h_.data());
    const auto& m = c_proj_.forward(gelu_.forward(c_fc_.forward(ln_2_.forward(h_))));
    out_.resize(x.shape());
    ops::add<B>(x.numel(), h_.data(), m.data(), out_.data());
    return out_;
  }

  LayerNorm<T, B> ln_1_;
  CausalSelfAttention<T, B> attn_;
  LayerNorm<T, B> ln_2_;
  Linear<T, B> c_fc_;
  GELU<T, B> gelu_;
  Linear<T, B> c_proj_;
  tensor<T, B> h_, out_, dh_, dx_;
};

}  // namespace vae
