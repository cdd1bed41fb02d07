// Dropout (PyTorch nn.Dropout): in training zeroes each element with probability p and scales the rest by 1/(1−p).
#pragma once
#include <concepts>
#include <cstdint>
#include <string>

#include "vae/backend/cpu.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"

namespace vae {

// Inverted dropout. The noise is counter-based: element i of training forward number k ("draw" k) is kept
// when u > p, with u = word (i mod 4) of the Philox block with counter k·2⁴⁰ + ⌊i/4⌋ under key `seed`
// (uniform_from_bits), so a mask is a pure function of (seed, draw, i), the same on every backend and for
// any thread count. Each training forward uses draw() and then advances it, unless the noise is frozen
// (freeze_noise(true): every forward reuses draw(), as a finite-difference check needs). set_draw(k)
// replays from mask k. Eval mode (set_training(false)) is the identity. PyTorch's masks come from another
// generator, so parity with PyTorch is statistical, not elementwise.
template <class T = float, class B = cpu>
class Dropout {
 public:
  using value_type = T;
  using backend = B;
  static_assert(HostBackend<B>,
                "Dropout: only host backends for now (the mask loop runs on the host)");

  explicit Dropout(double p = 0.5, std::uint64_t seed = 0) : p_(p), seed_(seed) {
    check(p >= 0.0 && p <= 1.0, [&] { return cat("Dropout: probability must be in [0, 1], got ", p); });
  }

  template <class Visitor>
  void visit_parameters(const std::string&, Visitor&&) {}

  void set_training(bool training) { training_ = training; }
  bool training() const { return training_; }

  double p() const { return p_; }
  std::uint64_t seed() const { return seed_; }
  void set_seed(std::uint64_t seed) { seed_ = seed; }
  // Index of the mask the next training forward uses.
  std::uint64_t draw() const { return draw_; }
  void set_draw(std::uint64_t draw) { draw_ = draw; }
  void freeze_noise(bool frozen) { frozen_ = frozen; }

  const tensor<T, B>& forward(const tensor<T, B>& x) {
    x_shape_ = x.shape();
    forwarded_ = true;
    y_.resize(x.shape());
    active_ = training_ && p_ > 0.0;
    const std::int64_t n = x.numel();
    if (!active_) {
      B::copy(y_.data(), x.data(), static_cast<std::size_t>(n));
      return y_;
    }
    mask_.resize(x.shape());
    const T scale = p_ < 1.0 ? static_cast<T>(1.0 / (1.0 - p_)) : T(0);
    const std::uint64_t base = draw_ << 40;
    const double p = p_;
    const std::uint64_t seed = seed_;
    T* mask = mask_.data();
    T* y = y_.data();
    const T* xs = x.data();
    const std::int64_t blocks = (n + 3) / 4;
    parallel_for(blocks, n * 8, [&](std::int64_t b) {
      const std::uint64_t c = base + static_cast<std::uint64_t>(b);
      const auto r = philox4x32({static_cast<std::uint32_t>(c), static_cast<std::uint32_t>(c >> 32), 0u, 0u}, seed);
      for (std::int64_t k = 0; k < 4 && 4 * b + k < n; ++k) {
        const std::int64_t i = 4 * b + k;
        mask[i] = uniform_from_bits(r[static_cast<std::size_t>(k)]) > p ? scale : T(0);
        y[i] = xs[i] * mask[i];
      }
    });
    if (!frozen_) ++draw_;
    return y_;
  }

  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    check(forwarded_, "Dropout::backward called before forward");
    check(dy.shape() == x_shape_, [&] { return cat("Dropout::backward: dy: expected shape ", x_shape_, " (of the last forward), got ",
                           dy.shape()); });
    dx_.resize(dy.shape());
    const std::int64_t n = dy.numel();
    if (!active_) {
      B::copy(dx_.data(), dy.data(), static_cast<std::size_t>(n));
      return dx_;
    }
    const T* mask = mask_.data();
    const T* g = dy.data();
    T* dx = dx_.data();
    parallel_for(n, n, [&](std::int64_t i) { dx[i] = g[i] * mask[i]; });
    return dx_;
  }

  // The multipliers of the last training forward (0 or 1/(1−p) per element); unspecified after an eval forward.
  const tensor<T, B>& mask() const { return mask_; }

 private:
  double p_;
  std::uint64_t seed_;
  std::uint64_t draw_ = 0;
  bool training_ = true;
  bool frozen_ = false;
  bool active_ = false;
  bool forwarded_ = false;
  vae::shape x_shape_;
  tensor<T, B> y_, dx_, mask_;
};

}  // namespace vae
