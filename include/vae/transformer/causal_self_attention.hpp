// CausalSelfAttention (nanoGPT's): [B, T, C] → [B, T, C], n_head heads, a fused qkv Linear c_attn, the causal
// softmax(q·kᵀ/√d)·v, an output Linear c_proj; a KV-cache forward for incremental decoding.
#pragma once
#include <cstdint>
#include <string>

#include "vae/core/error.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/layers/linear.hpp"
#include "vae/ops/causal_attention.hpp"
#include "vae/transformer/kv_cache.hpp"

namespace vae {

// Parameters, as nanoGPT's CausalSelfAttention: "c_attn.weight" [3C, C], "c_attn.bias" [3C] (rows q | k | v, head h
// at rows h·D..h·D+D of each), "c_proj.weight" [C, C], "c_proj.bias" [C].
template <class T = float, class B = cpu>
class CausalSelfAttention {
 public:
  using value_type = T;
  using backend = B;

  CausalSelfAttention(std::int64_t n_embd, std::int64_t n_head)
      : c_attn_(checked_embd(n_embd, n_head), 3 * n_embd), c_proj_(n_embd, n_embd), n_embd_(n_embd), n_head_(n_head) {}

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    c_attn_.visit_parameters(prefix + "c_attn.", visit);
    c_proj_.visit_parameters(prefix + "c_proj.", visit);
  }

  // x: [B, T, C] → y: [B, T, C]; position t attends to positions 0..t of its own row.
  const tensor<T, B>& forward(const tensor<T, B>& x) {
    check_input(x, "forward");
    const auto d = dims(x.dim(0), x.dim(1), x.dim(1));
    const auto& qkv = c_attn_.forward(x);
    qkv_ = &qkv;
    y_.resize({d.batch, d.queries, n_embd_});
    att_.resize({d.batch, n_head_, d.queries, d.queries});
    ops::causal_attention_forward<B>(d, qkv.data(), y_.data(), att_.data());
    forwarded_ = true;
    return c_proj_.forward(y_);
  }

  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    check(forwarded_, "CausalSelfAttention::backward called before forward");
    const auto& dyatt = c_proj_.backward(dy);
    const auto d = dims(y_.dim(0), y_.dim(1), y_.dim(1));
    dqkv_.resize({d.batch, d.queries, 3 * n_embd_});
    // c_attn's output is still the forward's qkv: c_proj's forward ran on another buffer.
    ops::causal_attention_backward<B>(d, qkv_->data(), att_.data(), dyatt.data(), dqkv_.data());
    return c_attn_.backward(dqkv_);
  }

  // Incremental decoding: x [B, Tn, C] holds positions slot.start .. slot.start + Tn − 1 of each row; their keys and
  // values go into the slot, and each attends over the cached positions before it and itself. No backward.
  const tensor<T, B>& forward_cached(const tensor<T, B>& x, const kv_cache_slot<T>& slot) {
    check_input(x, "forward_cached");
    const auto d = dims(x.dim(0), x.dim(1), slot.start + x.dim(1));
    check(d.keys <= slot.capacity, [&] {
      return cat("CausalSelfAttention::forward_cached: positions up to ", d.keys, " exceed the cache's ", slot.capacity);
    });
    const auto& qkv = c_attn_.forward(x);
    y_cached_.resize({d.batch, d.queries, n_embd_});
    ops::cached_attention_forward<B>(d, slot.capacity, qkv.data(), slot.keys, slot.values, y_cached_.data());
    forwarded_ = false;  // c_attn's buffers now hold this step: a backward would read the wrong activations
    return c_proj_.forward(y_cached_);
  }

  std::int64_t n_embd() const { return n_embd_; }
  std::int64_t n_head() const { return n_head_; }
  std::int64_t head_dim() const { return n_embd_ / n_head_; }
  Linear<T, B>& c_attn() { return c_attn_; }
  Linear<T, B>& c_proj() { return c_proj_; }

 private:
  static std::int64_t checked_embd(std::int64_t n_embd, std::int64_t n_head) {
    check(n_embd > 0 && n_head > 0 && n_embd % n_head == 0, [&] {
      return cat("CausalSelfAttention: n_embd must be a positive multiple of n_head, got n_embd=", n_embd,
                 " n_head=", n_head);
    });
    return n_embd;
  }
  void check_input(const tensor<T, B>& x, const char* what) const {
    check(x.rank() == 3 && x.dim(2) == n_embd_ && x.dim(0) > 0 && x.dim(1) > 0, [&] {
      return cat("CausalSelfAttention::", what, ": expected input [B, T, ", n_embd_, "], got ", x.shape());
    });
  }
  attention_dims dims(std::int64_t batch, std::int64_t queries, std::int64_t keys) const {
    return {batch, queries, keys, n_head_, n_embd_ / n_head_};
  }

  Linear<T, B> c_attn_, c_proj_;
  std::int64_t n_embd_, n_head_;
  bool forwarded_ = false;
  const tensor<T, B>* qkv_ = nullptr;  // c_attn's output of the last forward (owned by c_attn)
  tensor<T, B> y_, att_, dqkv_, y_cached_;
};

}  // namespace vae
