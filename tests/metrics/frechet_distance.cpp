// Tests for metrics/frechet_distance.hpp and metrics/feature_statistics.hpp: known cases, scipy's value, singular sets.
#include "vae/metrics/frechet_distance.hpp"

#include <cmath>

#include "metrics_test_support.hpp"

using namespace vae;
using metrics::feature_matrix;

namespace frechet_test {
inline feature_matrix random_features(std::int64_t n, std::int64_t d, std::uint64_t seed) {
  generator rng(seed);
  feature_matrix m(n, d);
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j) m(i, j) = rng.normal() * (1.0 + static_cast<double>(j));
  return m;
}
}  // namespace frechet_test
using namespace frechet_test;

TEST_CASE("feature_statistics: mean and unbiased covariance of a hand-made set") {
  feature_matrix x(3, 2);
  x << 1, 2, 3, 6, 5, 4;
  const auto s = metrics::feature_statistics::of(x);
  CHECK(s.n == 3);
  CHECK(s.mean(0) == doctest::Approx(3.0).epsilon(1e-15));
  CHECK(s.mean(1) == doctest::Approx(4.0).epsilon(1e-15));
  // deviations (-2, -2), (0, 2), (2, 0): Σ = [[8, 4], [4, 8]] / 2
  CHECK(s.covariance(0, 0) == doctest::Approx(4.0).epsilon(1e-15));
  CHECK(s.covariance(0, 1) == doctest::Approx(2.0).epsilon(1e-15));
  CHECK(s.covariance(1, 1) == doctest::Approx(4.0).epsilon(1e-15));
  CHECK_THROWS_WITH_AS(metrics::feature_statistics::of(feature_matrix(1, 4)),
                       doctest::Contains("at least 2 feature vectors"), vae::error);
  feature_matrix bad = x;
  bad(1, 1) = std::nan("");
  CHECK_THROWS_WITH_AS(metrics::feature_statistics::of(bad), doctest::Contains("NaN or inf"), vae::error);
}

TEST_CASE("frechet_distance: identical sets give 0") {
  const auto a = random_features(300, 8, 1);
  const auto r = metrics::frechet_distance(a, a);
  const double scale = metrics::feature_statistics::of(a).covariance.trace();
  MESSAGE("FD(a, a) = " << r.distance << " (trace of the covariance " << scale << ")");
  CHECK(std::abs(r.distance) < 1e-10 * scale);
  CHECK(r.mean_term == 0.0);
  CHECK(r.warning.empty());
}

TEST_CASE("frechet_distance: a set shifted by delta is at distance |delta|^2 (same covariance)") {
  const auto a = random_features(200, 6, 2);
  feature_matrix b = a;
  Eigen::VectorXd delta(6);
  delta << 0.5, -1, 2, 0, 0.25, 3;
  b.rowwise() += delta.transpose();
  const auto r = metrics::frechet_distance(a, b);
  CHECK(r.distance == doctest::Approx(delta.squaredNorm()).epsilon(1e-10));
  CHECK(r.mean_term == doctest::Approx(delta.squaredNorm()).epsilon(1e-12));
}

TEST_CASE("frechet_distance: closed form for diagonal Gaussians, |mu_a - mu_b|^2 + sum (sigma_a - sigma_b)^2") {
  metrics::feature_statistics a, b;
  a.n = b.n = 1000;
  a.mean = Eigen::Vector3d(1, 2, 3);
  b.mean = Eigen::Vector3d(0, 2, 5);
  const Eigen::Vector3d sa(1, 2, 3), sb(2, 0.5, 3);
  a.covariance = sa.cwiseAbs2().asDiagonal();
  b.covariance = sb.cwiseAbs2().asDiagonal();
  const double expected = (a.mean - b.mean).squaredNorm() + (sa - sb).squaredNorm();  // 5 + 3.25
  CHECK(metrics::frechet_distance(a, b).distance == doctest::Approx(expected).epsilon(1e-12));
  // Symmetric in its arguments.
  CHECK(metrics::frechet_distance(b, a).distance == doctest::Approx(expected).epsilon(1e-12));
}

TEST_CASE("frechet_distance matches scipy.linalg.sqrtm's value (tools/fixtures/metrics.py)") {
  const auto f = test::golden("metrics");
  const auto a = test::fixture_matrix(f, "fd_a"), b = test::fixture_matrix(f, "fd_b");
  const double expected = f.at("fd").values<double>()[0];
  const double got = metrics::frechet_distance(a, b).distance;
  MESSAGE("FD: vae " << got << ", scipy " << expected << ", relative gap " << std::abs(got - expected) / expected);
  CHECK(std::abs(got - expected) <= 1e-9 * expected);
}

TEST_CASE("frechet_distance: fewer vectors than dimensions warns and stays finite") {
  const auto a = random_features(5, 8, 3), b = random_features(6, 8, 4);
  const auto r = metrics::frechet_distance(a, b);
  CHECK(std::isfinite(r.distance));
  CHECK(r.distance > 0);
  CHECK(r.warning.find("singular") != std::string::npos);
  CHECK(r.warning.find("5 vectors in 8 dimensions") != std::string::npos);
  CHECK_THROWS_WITH_AS(metrics::frechet_distance(a, random_features(6, 7, 5)), doctest::Contains("same dimension"),
                       vae::error);
}
