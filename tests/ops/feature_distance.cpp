// The LPIPS feature distance op: finite differences in f1 (double) with and without channel weights, zero at f1 = f0,
// a finite exact gradient at a zero feature vector (where autograd's sqrt gives NaN), and invariance to the scale.
#include "vae/ops/feature_distance.hpp"

#include <cmath>

#include "vae/core/parameters.hpp"  // test_support.hpp uses parameter<T> without including it

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

TEST_CASE("feature_distance gradient in f1 matches finite differences (double), weighted and channel mean") {
  generator rng(9);
  const feature_distance_dims d{2, 5, 6};
  auto f0 = test::random_tensor<double>({2, 5, 6}, rng);
  auto f1 = test::random_tensor<double>({2, 5, 6}, rng);
  tensor<double> w({5});
  rng.fill_uniform(w.data(), 5, 0.0, 1.0);
  for (const double* weights : {static_cast<const double*>(w.data()), static_cast<const double*>(nullptr)}) {
    tensor<double> dist({12}), g(f1.shape()), scratch({12});
    const double scale = 0.37;
    auto loss = [&] {
      ops::feature_distance<cpu>(d, f0.data(), f1.data(), weights, scratch.data(), static_cast<double*>(nullptr), 0.0);
      double s = 0;
      for (std::int64_t i = 0; i < 12; ++i) s += scale * scratch[i];
      return s;
    };
    ops::feature_distance<cpu>(d, f0.data(), f1.data(), weights, dist.data(), g.data(), scale);
    testing::gradcheck_report report;
    testing::check_gradient(loss, f1.data(), g.data(), f1.numel(), "f1", {}, report);
    INFO((weights ? "weighted: " : "mean: ") << report.summary());
    CHECK(report.ok);
    CHECK(report.checked == f1.numel());
    CHECK(report.nonzero == f1.numel());
  }
}

TEST_CASE("feature_distance: zero at f1 = f0, scale-invariant, finite at a zero feature vector") {
  generator rng(10);
  const feature_distance_dims d{1, 4, 3};
  auto f0 = test::random_tensor<double>({1, 4, 3}, rng);
  tensor<double> dist({3}), g({1, 4, 3});
  ops::feature_distance<cpu>(d, f0.data(), f0.data(), static_cast<const double*>(nullptr), dist.data(), g.data(), 1.0);
  for (std::int64_t i = 0; i < 3; ++i) CHECK(std::abs(dist[i]) < 1e-30);
  auto f1 = f0;
  for (std::int64_t i = 0; i < f1.numel(); ++i) f1[i] *= 3.5;  // u = f/‖f‖ does not change (up to eps)
  ops::feature_distance<cpu>(d, f0.data(), f1.data(), static_cast<const double*>(nullptr), dist.data(), g.data(), 1.0);
  for (std::int64_t i = 0; i < 3; ++i) CHECK(std::abs(dist[i]) < 1e-20);
  // Position 1 of f1 all zero: u1 = 0 there, dist = Σ u0² / c, and the exact gradient −2 u0 / (c · eps), finite.
  for (std::int64_t k = 0; k < 4; ++k) f1[k * 3 + 1] = 0.0;
  ops::feature_distance<cpu>(d, f0.data(), f1.data(), static_cast<const double*>(nullptr), dist.data(), g.data(), 1.0);
  double norm = 0;
  for (std::int64_t k = 0; k < 4; ++k) norm += f0[k * 3 + 1] * f0[k * 3 + 1];
  norm = std::sqrt(norm) + 1e-10;
  const double unit = (norm - 1e-10) / norm;  // ‖u0‖ = ‖f0‖ / (‖f0‖ + eps)
  CHECK(dist[1] == doctest::Approx(unit * unit / 4.0).epsilon(1e-14));
  for (std::int64_t k = 0; k < 4; ++k) {
    CHECK(std::isfinite(g[k * 3 + 1]));
    CHECK(g[k * 3 + 1] == doctest::Approx(-2.0 * (f0[k * 3 + 1] / norm) / 4.0 / 1e-10).epsilon(1e-9));
  }
}
