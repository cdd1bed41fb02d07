// Philox4x32-10 known answers (Random123 kat_vectors), key packing, stream determinism and draw statistics.
#include "vae/core/rng.hpp"

#include <cmath>
#include <vector>

#include <doctest/doctest.h>

using namespace vae;

namespace {
using block = std::array<std::uint32_t, 4>;
std::uint64_t pack_key(std::uint32_t k0, std::uint32_t k1) { return (static_cast<std::uint64_t>(k1) << 32) | k0; }

struct moments {
  double mean = 0, var = 0, skew = 0, exkurt = 0;
};
moments moments_of(const std::vector<double>& v) {
  const double n = static_cast<double>(v.size());
  moments m;
  for (double x : v) m.mean += x;
  m.mean /= n;
  double m2 = 0, m3 = 0, m4 = 0;
  for (double x : v) {
    const double d = x - m.mean;
    m2 += d * d;
    m3 += d * d * d;
    m4 += d * d * d * d;
  }
  m2 /= n;
  m3 /= n;
  m4 /= n;
  m.var = m2;
  m.skew = m3 / std::pow(m2, 1.5);
  m.exkurt = m4 / (m2 * m2) - 3.0;
  return m;
}
}  // namespace

TEST_CASE("philox4x32-10 matches the Random123 known-answer vectors") {
  // kat_vectors: "philox4x32 10 ctr key expected"
  CHECK(philox4x32({0u, 0u, 0u, 0u}, pack_key(0u, 0u)) == block{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
  CHECK(philox4x32({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, pack_key(0xffffffffu, 0xffffffffu)) ==
        block{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
  // The digits-of-pi vector has an asymmetric key, so it also pins the packing: key64's low word is k0.
  CHECK(philox4x32({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, pack_key(0xa4093822u, 0x299f31d0u)) ==
        block{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
}

TEST_CASE("key packing: swapping the key words changes the output") {
  const block ctr{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u};
  CHECK(philox4x32(ctr, pack_key(0xa4093822u, 0x299f31d0u)) != philox4x32(ctr, pack_key(0x299f31d0u, 0xa4093822u)));
  CHECK(philox4x32(ctr, 0xa4093822u) != philox4x32(ctr, std::uint64_t{0xa4093822u} << 32));
}

TEST_CASE("uniform_from_bits maps to (0, 1]") {
  CHECK(uniform_from_bits(0u) > 0.0);
  CHECK(uniform_from_bits(0u) == doctest::Approx(1.0 / 4294967296.0).epsilon(1e-12));
  CHECK(uniform_from_bits(0xffffffffu) == 1.0);
}

TEST_CASE("draws are a pure function of (seed, offset, index)") {
  generator a(42), b(42), c(43);
  std::vector<double> xa(100), xb(100), xc(100);
  a.fill_normal(xa.data(), 100);
  b.fill_normal(xb.data(), 100);
  c.fill_normal(xc.data(), 100);
  CHECK(xa == xb);
  CHECK(xa != xc);
  CHECK(a.offset() == 100);
  for (int i = 0; i < 100; ++i) CHECK(xa[i] == counter_normal(42, 0, static_cast<std::uint64_t>(i)));

  SUBCASE("two fills of 50 equal one fill of 100") {
    generator g(42);
    std::vector<double> y(100);
    g.fill_normal(y.data(), 50);
    g.fill_normal(y.data() + 50, 50);
    CHECK(y == xa);
  }
  SUBCASE("set_offset resumes the stream") {
    generator g(42);
    g.set_offset(37);
    CHECK(g.normal() == xa[37]);
    CHECK(g.offset() == 38);
  }
  SUBCASE("reserve hands out disjoint ranges") {
    generator g(1);
    CHECK(g.reserve(10) == 0);
    CHECK(g.reserve(5) == 10);
    CHECK(g.offset() == 15);
  }
  SUBCASE("uniform and normal streams are decorrelated (different counter word)") {
    CHECK(counter_uniform(42, 0, 0) != uniform_from_bits(philox4x32({0u, 0u, 1u, 0u}, 42)[0]));
  }
  SUBCASE("counters above 2^32 use the high counter word") {
    const std::uint64_t big = (std::uint64_t{1} << 32) + 5;
    CHECK(counter_uniform(9, big, 0) != counter_uniform(9, 5, 0));
    CHECK(counter_uniform(9, big, 0) == uniform_from_bits(philox4x32({5u, 1u, 0u, 0u}, 9)[0]));
  }
}

TEST_CASE("fill with float and affine parameters") {
  generator a(5), b(5);
  std::vector<float> f(10);
  std::vector<double> d(10);
  a.fill_normal(f.data(), 10, 3.0, 2.0);
  b.fill_normal(d.data(), 10);
  for (int i = 0; i < 10; ++i) CHECK(f[i] == static_cast<float>(3.0 + 2.0 * d[i]));
  generator u(6);
  std::vector<float> w(1000);
  u.fill_uniform(w.data(), 1000, -0.25, 0.5);
  for (float x : w) {
    CHECK(x >= -0.25f);
    CHECK(x <= 0.5f);
  }
}

TEST_CASE("normal draws: moments over 1e5 draws") {
  constexpr int n = 100000;
  generator g(2026);
  std::vector<double> x(n);
  g.fill_normal(x.data(), n);
  const auto m = moments_of(x);
  // Bounds are ~5 standard errors (mean 1/√n, variance √(2/n), skewness √(6/n), excess kurtosis √(24/n)).
  INFO("mean=" << m.mean << " var=" << m.var << " skew=" << m.skew << " exkurt=" << m.exkurt);
  CHECK(std::abs(m.mean) < 5.0 / std::sqrt(n));
  CHECK(std::abs(m.var - 1.0) < 5.0 * std::sqrt(2.0 / n));
  CHECK(std::abs(m.skew) < 5.0 * std::sqrt(6.0 / n));
  CHECK(std::abs(m.exkurt) < 5.0 * std::sqrt(24.0 / n));
  // Tail mass: P(|z| > 2) = 0.0455, binomial standard error √(p(1-p)/n) ≈ 6.6e-4.
  int tail = 0;
  for (double v : x) tail += std::abs(v) > 2.0;
  CHECK(std::abs(tail / double(n) - 0.0455003) < 5.0 * 6.6e-4);
}

TEST_CASE("uniform draws: moments and below() range over 1e5 draws") {
  constexpr int n = 100000;
  generator g(11);
  std::vector<double> x(n);
  for (auto& v : x) v = g.uniform();
  const auto m = moments_of(x);
  INFO("mean=" << m.mean << " var=" << m.var);
  // U(0,1): mean 1/2 (se √(1/12n)), variance 1/12 (se √(1/180n)).
  CHECK(std::abs(m.mean - 0.5) < 5.0 * std::sqrt(1.0 / (12.0 * n)));
  CHECK(std::abs(m.var - 1.0 / 12.0) < 5.0 * std::sqrt(1.0 / (180.0 * n)));
  for (double v : x) {
    REQUIRE(v > 0.0);
    REQUIRE(v <= 1.0);
  }
  std::vector<int> counts(7, 0);
  for (int i = 0; i < 70000; ++i) {
    const auto k = g.below(7);
    REQUIRE(k < 7);
    ++counts[k];
  }
  for (int c : counts) CHECK(std::abs(c - 10000) < 5 * 93);  // binomial sd √(70000·(1/7)(6/7)) ≈ 93
}
