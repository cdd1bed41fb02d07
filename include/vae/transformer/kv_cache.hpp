// Key/value cache of a decoder-only transformer: per layer, the keys and values of every position fed so far, for a
// batch of sequences decoded together.
#pragma once
#include <cstdint>

#include "vae/core/error.hpp"
#include "vae/core/tensor.hpp"

namespace vae {

// One layer's slice of a kv_cache: where its keys and values live and which positions a forward step writes.
template <class T>
struct kv_cache_slot {
  T* keys;                // [batch, heads, capacity, head_dim]
  T* values;              // same shape
  std::int64_t start;     // the first position the step writes (the positions before it are cached)
  std::int64_t capacity;  // positions the cache holds
};

// Keys and values [layers, batch, heads, capacity, head_dim] preallocated once. A model's cached forward writes the
// new positions into every layer's slot, then advance()s the length by the positions it fed.
template <class T, class B = cpu>
class kv_cache {
 public:
  kv_cache(std::int64_t layers, std::int64_t batch, std::int64_t heads, std::int64_t capacity, std::int64_t head_dim)
      : layers_(layers), batch_(batch), heads_(heads), capacity_(capacity), head_dim_(head_dim) {
    check(layers > 0 && batch > 0 && heads > 0 && capacity > 0 && head_dim > 0, [&] {
      return cat("kv_cache: sizes must be positive, got layers=", layers, " batch=", batch, " heads=", heads,
                 " capacity=", capacity, " head_dim=", head_dim);
    });
    keys_.resize({layers, batch, heads, capacity, head_dim});
    values_.resize({layers, batch, heads, capacity, head_dim});
  }

  // The slot of `layer` for a step feeding `positions` new positions after the cached ones.
  kv_cache_slot<T> slot(std::int64_t layer, std::int64_t positions) {
    check(layer >= 0 && layer < layers_, [&] { return cat("kv_cache: layer ", layer, " of ", layers_); });
    check(positions > 0 && length_ + positions <= capacity_, [&] {
      return cat("kv_cache: ", positions, " new positions after ", length_, " cached exceed its capacity of ",
                 capacity_, " positions");
    });
    const std::int64_t per_layer = batch_ * heads_ * capacity_ * head_dim_;
    return {keys_.data() + layer * per_layer, values_.data() + layer * per_layer, length_, capacity_};
  }
  void advance(std::int64_t positions) { length_ += positions; }
  void clear() { length_ = 0; }

  std::int64_t length() const { return length_; }
  std::int64_t capacity() const { return capacity_; }
  std::int64_t batch() const { return batch_; }
  std::int64_t layers() const { return layers_; }
  std::int64_t heads() const { return heads_; }
  std::int64_t head_dim() const { return head_dim_; }
  // Bytes held (keys and values).
  std::int64_t bytes() const { return 2 * keys_.numel() * static_cast<std::int64_t>(sizeof(T)); }

 private:
  std::int64_t layers_, batch_, heads_, capacity_, head_dim_;
  std::int64_t length_ = 0;
  tensor<T, B> keys_, values_;
};

}  // namespace vae
