// Counter-based random numbers (Philox4x32-10): draw i of stream (seed, offset) is a pure function, so CPU and CUDA agree.
#pragma once
#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>

namespace vae {

namespace detail {
inline constexpr std::uint32_t philox_m0 = 0xD2511F53u, philox_m1 = 0xCD9E8D57u;
inline constexpr std::uint32_t philox_w0 = 0x9E3779B9u, philox_w1 = 0xBB67AE85u;

#if defined(__CUDACC__)
#define VAE_HOST_DEVICE __host__ __device__
#else
#define VAE_HOST_DEVICE
#endif

VAE_HOST_DEVICE inline void mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t& hi, std::uint32_t& lo) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  hi = static_cast<std::uint32_t>(p >> 32);
  lo = static_cast<std::uint32_t>(p);
}
}  // namespace detail

// Philox4x32 with 10 rounds (Salmon et al., SC'11): 4 random words from a 128-bit counter and 64-bit key.
VAE_HOST_DEVICE inline std::array<std::uint32_t, 4> philox4x32(std::array<std::uint32_t, 4> ctr, std::uint64_t key64) {
  std::uint32_t k0 = static_cast<std::uint32_t>(key64), k1 = static_cast<std::uint32_t>(key64 >> 32);
  for (int round = 0; round < 10; ++round) {
    std::uint32_t hi0, lo0, hi1, lo1;
    detail::mulhilo(detail::philox_m0, ctr[0], hi0, lo0);
    detail::mulhilo(detail::philox_m1, ctr[2], hi1, lo1);
    ctr = {hi1 ^ ctr[1] ^ k0, lo1, hi0 ^ ctr[3] ^ k1, lo0};
    k0 += detail::philox_w0;
    k1 += detail::philox_w1;
  }
  return ctr;
}

// Uniform in (0, 1]: never 0, so log() is safe.
VAE_HOST_DEVICE inline double uniform_from_bits(std::uint32_t bits) { return (bits + 1.0) * (1.0 / 4294967296.0); }

// Draw number `index` of the stream `(seed, offset)`: uniform in (0, 1].
VAE_HOST_DEVICE inline double counter_uniform(std::uint64_t seed, std::uint64_t offset, std::uint64_t index) {
  const std::uint64_t c = offset + index;
  const auto r = philox4x32({static_cast<std::uint32_t>(c), static_cast<std::uint32_t>(c >> 32), 0u, 0u}, seed);
  return uniform_from_bits(r[0]);
}

// Draw number `index` of the stream `(seed, offset)`: standard normal via Box-Muller on two words of one block.
VAE_HOST_DEVICE inline double counter_normal(std::uint64_t seed, std::uint64_t offset, std::uint64_t index) {
  const std::uint64_t c = offset + index;
  const auto r = philox4x32({static_cast<std::uint32_t>(c), static_cast<std::uint32_t>(c >> 32), 1u, 0u}, seed);
  const double u1 = uniform_from_bits(r[0]), u2 = uniform_from_bits(r[1]);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

#undef VAE_HOST_DEVICE

// A seeded generator that hands out disjoint ranges of one counter stream. Fill calls are
// deterministic in (seed, number of draws so far): the same seed gives the same run on any backend.
class generator {
 public:
  explicit generator(std::uint64_t seed = 0) : seed_(seed) {}

  std::uint64_t seed() const { return seed_; }
  std::uint64_t offset() const { return offset_; }
  void set_offset(std::uint64_t offset) { offset_ = offset; }

  // Reserves n draws and returns the first counter of the range (for kernels that draw in parallel).
  std::uint64_t reserve(std::uint64_t n) {
    const auto first = offset_;
    offset_ += n;
    return first;
  }

  double uniform() { return counter_uniform(seed_, reserve(1), 0); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  double normal() { return counter_normal(seed_, reserve(1), 0); }
  // Uniform integer in [0, n).
  std::uint64_t below(std::uint64_t n) {
    const auto x = static_cast<std::uint64_t>(uniform() * static_cast<double>(n));
    return x >= n ? n - 1 : x;
  }

  template <class T>
  void fill_uniform(T* out, std::int64_t n, double lo, double hi) {
    const auto first = reserve(static_cast<std::uint64_t>(n));
    for (std::int64_t i = 0; i < n; ++i)
      out[i] = static_cast<T>(lo + (hi - lo) * counter_uniform(seed_, first, static_cast<std::uint64_t>(i)));
  }
  template <class T>
  void fill_normal(T* out, std::int64_t n, double mean = 0.0, double stddev = 1.0) {
    const auto first = reserve(static_cast<std::uint64_t>(n));
    for (std::int64_t i = 0; i < n; ++i)
      out[i] = static_cast<T>(mean + stddev * counter_normal(seed_, first, static_cast<std::uint64_t>(i)));
  }

 private:
  std::uint64_t seed_;
  std::uint64_t offset_ = 0;
};

}  // namespace vae
