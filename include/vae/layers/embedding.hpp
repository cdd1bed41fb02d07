// Embedding (PyTorch nn.Embedding): a lookup table weight [num_embeddings, dim]; indices [...] → vectors [..., dim].
#pragma once
#include <algorithm>
#include <concepts>
#include <cstdint>
#include <string>
#include <vector>

#include "vae/backend/cpu.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"

namespace vae {

// Not a vae::Layer: its input is a tensor of integer indices, not of T, and it has no input gradient, so
// forward takes tensor<I> (int32 or int64, as PyTorch accepts) and backward returns nothing. It still has
// visit_parameters, so a parameter_store attaches to it and a model names its weight ("embed.weight").
// Models call it first in their forward and last in their backward, outside any Sequential.
template <class T = float, class B = cpu>
class Embedding {
 public:
  using value_type = T;
  using backend = B;
  static_assert(HostBackend<B>,
                "Embedding: only host backends for now (gather/scatter loops run on the host)");

  Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim) : num_(num_embeddings), dim_(embedding_dim) {
    check(num_embeddings > 0 && embedding_dim > 0, [&] {
      return cat("Embedding: sizes must be positive, got num_embeddings=", num_embeddings,
                 " embedding_dim=", embedding_dim);
    });
    weight_.shape = {num_, dim_};
    weight_.init = parameter_init::normal(0.0, 1.0);  // PyTorch: N(0, 1)
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    visit(prefix + "weight", weight_);
  }

  // idx: [...] of integers in [0, num_embeddings) → y: [..., dim]. Keeps a copy of the indices for backward.
  template <std::integral I>
  const tensor<T, B>& forward(const tensor<I, B>& idx) {
    check(weight_.bound(), "Embedding::forward: parameters are not attached to a parameter_store");
    check(idx.rank() < vae::shape::max_rank, [&] {
      return cat("Embedding::forward: index tensor ", idx.shape(), " leaves no room for the embedding dimension");
    });
    const std::int64_t n = idx.numel();
    for (std::int64_t r = 0; r < n; ++r) {
      const auto k = static_cast<std::int64_t>(idx[r]);
      check(k >= 0 && k < num_, [&] {
        return cat("Embedding::forward: index ", k, " at position ", r, " is out of range for an embedding of size ",
                   num_, " (valid: 0..", num_ - 1, ")");
      });
    }
    forwarded_ = true;
    idx_.resize(idx.shape());
    for (std::int64_t r = 0; r < n; ++r) idx_[r] = static_cast<std::int64_t>(idx[r]);
    std::vector<std::int64_t> dims = idx.shape().to_vector();
    dims.push_back(dim_);
    y_.resize(shape(dims));
    const T* w = weight_.value;
    T* y = y_.data();
    const std::int64_t d = dim_;
    parallel_for(n, n * d, [&](std::int64_t r) { std::copy(w + idx_[r] * d, w + idx_[r] * d + d, y + r * d); });
    return y_;
  }

  // dy: [..., dim] of the last forward. ADDS dy's rows into the weight gradient at their indices (repeated
  // indices add up). There is no input gradient.
  void backward(const tensor<T, B>& dy) {
    check(forwarded_, "Embedding::backward called before forward");
    check_shape(dy.shape(), y_.shape(), "Embedding::backward: dy");
    const std::int64_t n = idx_.numel(), d = dim_;
    const T* g = dy.data();
    T* dw = weight_.grad_to_add();
    // Columns in blocks of 64 per task: no two tasks touch the same element, whatever the indices repeat.
    constexpr std::int64_t block = 64;
    const std::int64_t blocks = (d + block - 1) / block;
    parallel_for(blocks, n * d, [&](std::int64_t b) {
      const std::int64_t c0 = b * block, c1 = std::min(d, c0 + block);
      for (std::int64_t r = 0; r < n; ++r) {
        T* row = dw + idx_[r] * d;
        const T* src = g + r * d;
        for (std::int64_t c = c0; c < c1; ++c) row[c] += src[c];
      }
    });
  }

  std::int64_t num_embeddings() const { return num_; }
  std::int64_t embedding_dim() const { return dim_; }
  parameter<T>& weight() { return weight_; }

 private:
  std::int64_t num_, dim_;
  bool forwarded_ = false;
  parameter<T> weight_;
  tensor<std::int64_t, B> idx_;
  tensor<T, B> y_;
};

}  // namespace vae
