// Causal multi-head attention op: softmax(q·kᵀ/√d, causal mask)·v per batch row and head, its backward, and the
// KV-cache form that appends new keys/values and attends over every cached position.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"

namespace vae {

struct causal_attention_op {};

// Sizes of one attention call. Query i sits at key position keys − queries + i and sees keys 0..that position, so
// queries == keys is the plain causal mask and queries < keys a KV-cache step over a cached prefix.
struct attention_dims {
  std::int64_t batch, queries, keys, heads, head_dim;
  std::int64_t channels() const { return heads * head_dim; }
};

namespace ops {
// qkv [batch, T, 3C] (the fused projection: q | k | v, head h at columns h·D..h·D+D of each), T = queries = keys.
// WRITES y [batch, T, C] and att [batch, heads, T, T], the attention probabilities (zero above the diagonal).
template <class B, class T>
void causal_attention_forward(const attention_dims& d, const T* qkv, T* y, T* att) {
  kernel<causal_attention_op, B>::forward(d, qkv, y, att);
}
// From the forward's qkv and att and dy [batch, T, C]: WRITES dqkv [batch, T, 3C].
template <class B, class T>
void causal_attention_backward(const attention_dims& d, const T* qkv, const T* att, const T* dy, T* dqkv) {
  kernel<causal_attention_op, B>::backward(d, qkv, att, dy, dqkv);
}
// KV-cache step: qkv [batch, queries, 3C] holds the new positions keys − queries .. keys − 1. Their keys and values are
// written into k_cache, v_cache [batch, heads, capacity, D] at those positions, then every query attends over cached
// positions 0..its own. WRITES y [batch, queries, C]. Needs keys ≤ capacity.
template <class B, class T>
void cached_attention_forward(const attention_dims& d, std::int64_t capacity, const T* qkv, T* k_cache, T* v_cache,
                              T* y) {
  kernel<causal_attention_op, B>::cached_forward(d, capacity, qkv, k_cache, v_cache, y);
}
}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/causal_attention.hpp"
