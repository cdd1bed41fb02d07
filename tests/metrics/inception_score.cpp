// Tests for metrics/inception_score.hpp: its two extremes and a numpy reference.
#include "vae/metrics/inception_score.hpp"

#include "metrics_test_support.hpp"

using namespace vae;
using metrics::feature_matrix;

TEST_CASE("inception_score: 1 for identical predictions, the class count for confident even ones") {
  feature_matrix same(6, 4);
  for (int i = 0; i < 6; ++i) same.row(i) << 0.1, 0.2, 0.3, 0.4;
  CHECK(metrics::inception_score(same) == doctest::Approx(1.0).epsilon(1e-14));
  feature_matrix onehot = feature_matrix::Zero(8, 4);
  for (int i = 0; i < 8; ++i) onehot(i, i % 4) = 1.0;
  CHECK(metrics::inception_score(onehot) == doctest::Approx(4.0).epsilon(1e-14));
}

TEST_CASE("inception_score matches numpy (tools/fixtures/metrics.py)") {
  const auto f = test::golden("metrics");
  feature_matrix p = test::fixture_matrix(f, "is_p");
  const double expected = f.at("is").values<double>()[0];
  CHECK(metrics::inception_score(p) == doctest::Approx(expected).epsilon(1e-13));
  p(0, 0) = -0.1;
  CHECK_THROWS_WITH_AS(metrics::inception_score(p), doctest::Contains("non-negative"), vae::error);
}
