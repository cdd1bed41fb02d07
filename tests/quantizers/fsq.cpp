// FSQ: the grid per channel, mixed-radix tokens, lookup round trip, rounding straight-through (finite differences), errors.
#include "vae/quantizers/fsq.hpp"

#include <set>

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Quantizer<FSQ<float>>);

TEST_CASE("FSQ puts channel c on L_c values in [-1, 1] and numbers codes in mixed radix") {
  FSQ<double> q({8, 5, 3});
  CHECK(q.codebook_size() == 120);
  const std::int64_t P = 401;
  tensor<double> z({1, 3, 1, P});
  for (std::int64_t p = 0; p < P; ++p)
    for (int c = 0; c < 3; ++c) z[c * P + p] = -4.0 + 8.0 * p / (P - 1);
  const auto& zq = q.forward(z);
  const int L[] = {8, 5, 3};
  for (int c = 0; c < 3; ++c) {
    std::set<double> values;
    for (std::int64_t p = 0; p < P; ++p) values.insert(zq[c * P + p]);
    CHECK(static_cast<int>(values.size()) == L[c]);
    CHECK(*values.begin() == -1.0);                          // (0 − L div 2)/(L div 2)
    CHECK(*values.rbegin() == (L[c] % 2 ? 1.0 : 0.75));     // 3/4 for L = 8
  }
  CHECK(q.indices()[0] == 0);         // every channel at its lowest digit
  CHECK(q.indices()[P - 1] == 119);   // every channel at its highest digit
  // A middle position: digits (round(b) + L div 2) weighted by 1, 8, 40.
  const std::int64_t p = 230;
  std::int64_t token = 0, basis = 1;
  for (int c = 0; c < 3; ++c) {
    const std::int64_t digit = std::llround(zq[c * P + p] * (L[c] / 2)) + L[c] / 2;
    token += digit * basis;
    basis *= L[c];
  }
  CHECK(q.indices()[p] == token);
  CHECK(q.loss() == 0.0);
  CHECK(q.stats().codes_used() >= 8);
}

TEST_CASE("FSQ lookup reproduces forward's z_q bit for bit") {
  generator rng(1);
  FSQ<float> q({8, 5, 5, 5});
  auto z = test::random_tensor<float>({3, 4, 2, 3}, rng, 2.0);
  const tensor<float> zq = q.forward(z);
  tensor<float> out;
  q.lookup(q.indices(), out);
  REQUIRE(out.shape() == zq.shape());
  for (std::int64_t i = 0; i < zq.numel(); ++i) CHECK(out[i] == zq[i]);
}

TEST_CASE("FSQ rounding straight-through gradient matches finite differences at frozen rounding (double)") {
  generator rng(2);
  FSQ<double> q({7, 4, 5});
  auto z = test::random_tensor<double>({2, 3, 2, 2}, rng);
  auto r = test::random_tensor<double>({2, 3, 2, 2}, rng);
  q.forward(z);
  const tensor<double> dz = q.backward(r);
  q.set_frozen_assignment(true);
  testing::gradcheck_report report;
  testing::check_gradient(
      [&] {
        const auto& y = q.forward(z);
        double s = 0;
        for (std::int64_t i = 0; i < y.numel(); ++i) s += y[i] * r[i];
        return s;
      },
      z.data(), dz.data(), z.numel(), "z_e", {}, report);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == z.numel());
  CHECK(std::any_of(dz.begin(), dz.end(), [](double g) { return g != 0.0; }));
}

TEST_CASE("FSQ rejects bad levels, shapes and tokens") {
  CHECK_THROWS_WITH_AS(FSQ<float>({8, 1}), doctest::Contains("at least 2, got 1"), error);
  CHECK_THROWS_AS(FSQ<float>(std::vector<int>{}), error);
  FSQ<float> q({4, 4});
  tensor<float> z({1, 3, 2, 2});
  CHECK_THROWS_WITH_AS(q.forward(z), doctest::Contains("expected z_e [N, 2, h, w] (one channel per level), got [1, 3, 2, 2]"), error);
  CHECK_THROWS_WITH_AS(q.backward(z), doctest::Contains("before forward"), error);
  tensor<std::int32_t> t({1, 1, 1}, 16);
  tensor<float> out;
  CHECK_THROWS_WITH_AS(q.lookup(t, out), doctest::Contains("token 16 at position 0 is outside [0, 16)"), error);
}
