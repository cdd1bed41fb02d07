// Tests for metrics/inception_score.hpp: its two extremes and a numpy reference.
#include "vae/metrics/inception_score.hpp"

#include "../test_support.hpp"

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
  const auto& t = f.at("is_p");
  const auto v = t.values<double>();
  feature_matrix p(t.dims[0], t.dims[1]);
  for (Eigen::Index i = 0; i < p.rows(); ++i)
    for (Eigen::Index j = 0; j < p.cols(); ++j) p(i, j) = v[static_cast<std::size_t>(i * p.cols() + j)];
  const double expected = f.at("is").values<double>()[0];
  CHECK(metrics::inception_score(p) == doctest::Approx(expected).epsilon(1e-13));
  p(0, 0) = -0.1;
  CHECK_THROWS_WITH_AS(metrics::inception_score(p), doctest::Contains("non-negative"), vae::error);
}
