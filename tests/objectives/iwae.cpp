// IWAE weights: bound = log mean exp of the log-weights (stable for huge values), weights self-normalised per image,
// and d(mean −bound)/d log_w = −weight by finite differences.
#include <cmath>
#include <vector>

#include "../test_support.hpp"
#include "vae/objectives/iwae.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

TEST_CASE("iwae_weights: bound, self-normalised weights and their gradient") {
  const std::int64_t k = 3, n = 2;
  std::vector<double> lw = {-1.0, 2.0, 0.5, -3.0, 1.0, 0.0};  // sample-major: row s·N + i
  std::vector<double> bound(2), w(6);
  detail::iwae_weights(lw, k, n, bound, w);
  for (std::int64_t i = 0; i < n; ++i) {
    double m = 0, sw = 0;
    for (std::int64_t s = 0; s < k; ++s) {
      m += std::exp(lw[s * n + i]) / k;
      sw += w[s * n + i];
    }
    CHECK(bound[i] == doctest::Approx(std::log(m)).epsilon(1e-14));
    CHECK(sw == doctest::Approx(1.0 / n));
  }
  auto loss = [&] {
    std::vector<double> b(2), ww(6);
    detail::iwae_weights(lw, k, n, b, ww);
    return -(b[0] + b[1]) / n;
  };
  // Central differences with step 1e-6, |analytic − numeric| ≤ 1e-7·(1 + max of their magnitudes), all 6 weights.
  std::vector<double> minus_w(w.size());
  for (std::size_t r = 0; r < w.size(); ++r) minus_w[r] = -w[r];
  testing::gradcheck_options opt;
  opt.atol = opt.rtol = 1e-7;
  testing::gradcheck_report report;
  testing::check_gradient(loss, lw.data(), minus_w.data(), static_cast<std::int64_t>(lw.size()), "log_w", opt, report);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == 6);
}

TEST_CASE("iwae_weights stay finite for log-weights of ±1e4 nats") {
  std::vector<double> lw = {-1e4, 1e4, -1e4 - 1, 1e4 - 1};
  std::vector<double> bound(2), w(4);
  detail::iwae_weights(lw, 2, 2, bound, w);
  CHECK(bound[0] == doctest::Approx(-1e4 + std::log((1 + std::exp(-1.0)) / 2)));
  CHECK(bound[1] == doctest::Approx(1e4 + std::log((1 + std::exp(-1.0)) / 2)));
  for (double v : w) CHECK(std::isfinite(v));
}

TEST_CASE("IWAEObjective rejects k < 1") {
  struct Dummy {
  } d;
  CHECK_THROWS_WITH_AS(IWAEObjective<Dummy>(d, 0), doctest::Contains("k must be positive"), error);
}
