// Shuffles and mini-batches: random_permutation, batch_sampler and gather along the first axis.
#pragma once
#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "vae/backend/cpu.hpp"
#include "vae/core/error.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"

namespace vae::data {

// Uniformly shuffles [0, n) with Fisher–Yates, drawing from generator `rng`.
inline std::vector<std::int64_t> random_permutation(std::int64_t n, generator& rng) {
  std::vector<std::int64_t> p(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) p[static_cast<std::size_t>(i)] = i;
  for (std::int64_t i = n - 1; i > 0; --i)
    std::swap(p[static_cast<std::size_t>(i)], p[static_cast<std::size_t>(rng.below(static_cast<std::uint64_t>(i + 1)))]);
  return p;
}

// Shuffled mini-batches of indices into [0, n). Each epoch is a fresh permutation drawn from a disjoint range
// of one counter-based stream, so epoch e's order depends only on (seed, e). The last batch of an epoch may be
// short (n % batch indices) unless drop_last is set.
//   batch_sampler s(n, 64, seed); std::vector<std::int64_t> idx;
//   for (int e = 0; e < epochs; ++e) { while (s.next(idx)) gather(x, idx, batch), ...; s.new_epoch(); }
class batch_sampler {
 public:
  batch_sampler(std::int64_t n, std::int64_t batch, std::uint64_t seed, bool drop_last = false)
      : n_(n), batch_(batch), seed_(seed), drop_last_(drop_last) {
    check(n >= 0 && batch > 0, [&] { return cat("batch_sampler: expected n >= 0 and batch > 0, got n = ", n, ", batch = ", batch); });
    shuffle();
  }

  // Moves on to the next epoch: a new permutation, starting from its first batch.
  void new_epoch() {
    ++epoch_;
    shuffle();
  }
  // Fills idx with the next batch of this epoch; returns false (idx empty) when the epoch is exhausted.
  bool next(std::vector<std::int64_t>& idx) {
    idx.clear();
    const std::int64_t left = n_ - cursor_;
    if (left <= 0 || (drop_last_ && left < batch_)) return false;
    const std::int64_t take = std::min(left, batch_);
    idx.assign(order_.begin() + cursor_, order_.begin() + cursor_ + take);
    cursor_ += take;
    return true;
  }

  std::int64_t epoch() const { return epoch_; }
  std::int64_t size() const { return n_; }
  std::int64_t batch_size() const { return batch_; }
  std::int64_t batches_per_epoch() const { return drop_last_ ? n_ / batch_ : (n_ + batch_ - 1) / batch_; }

 private:
  void shuffle() {
    generator rng(seed_);
    rng.set_offset(static_cast<std::uint64_t>(epoch_) * static_cast<std::uint64_t>(n_));  // n - 1 draws per epoch
    order_ = random_permutation(n_, rng);
    cursor_ = 0;
  }
  std::int64_t n_, batch_;
  std::uint64_t seed_;
  bool drop_last_;
  std::int64_t epoch_ = 0, cursor_ = 0;
  std::vector<std::int64_t> order_;
};

// dst = src[idx] along the first axis: dst is resized to [idx.size(), src dims 1..] (reusing its capacity) and
// filled in parallel. Indices outside [0, src.dim(0)) are an error.
template <class T>
void gather(const tensor<T>& src, std::span<const std::int64_t> idx, tensor<T>& dst) {
  check(src.rank() >= 1, "gather: source tensor has rank 0");
  const std::int64_t n = src.dim(0), k = static_cast<std::int64_t>(idx.size());
  for (const auto i : idx)
    check(i >= 0 && i < n, [&] { return cat("gather: index ", i, " is outside [0, ", n, ") of source ", src.shape()); });
  std::vector<std::int64_t> dims = src.shape().to_vector();
  dims[0] = k;
  dst.resize(shape(dims));
  const std::int64_t per = n ? src.numel() / n : 0;
  const T* s = src.data();
  T* d = dst.data();
  parallel_for(k, k * per, [&](std::int64_t j) {
    std::copy(s + idx[static_cast<std::size_t>(j)] * per, s + (idx[static_cast<std::size_t>(j)] + 1) * per, d + j * per);
  });
}
template <class T>
void gather(const tensor<T>& src, const std::vector<std::int64_t>& idx, tensor<T>& dst) {
  gather(src, std::span<const std::int64_t>(idx), dst);
}

}  // namespace vae::data
