// Tests for metrics/precision_recall.hpp: known cases and a brute-force numpy reference.
#include "vae/metrics/precision_recall.hpp"

#include "metrics_test_support.hpp"

using namespace vae;
using metrics::feature_matrix;

namespace precision_recall_test {
inline feature_matrix gaussian(std::int64_t n, std::int64_t d, double offset, std::uint64_t seed) {
  generator rng(seed);
  feature_matrix m(n, d);
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j) m(i, j) = offset + rng.normal();
  return m;
}
}  // namespace precision_recall_test
using namespace precision_recall_test;

TEST_CASE("precision_recall: a set against itself covers everything; far-apart sets cover nothing") {
  const auto a = gaussian(300, 4, 0, 1);
  const auto same = metrics::precision_recall(a, a);
  CHECK(same.precision == 1.0);
  CHECK(same.recall == 1.0);
  const auto far = metrics::precision_recall(a, gaussian(280, 4, 100, 2));
  CHECK(far.precision == 0.0);
  CHECK(far.recall == 0.0);
}

TEST_CASE("precision_recall: a collapsed generator has high precision and low recall") {
  const auto real = gaussian(600, 3, 0, 3);
  feature_matrix gen = 0.05 * gaussian(500, 3, 0, 4);  // every sample near the centre of the real data
  const auto r = metrics::precision_recall(real, gen);
  MESSAGE("collapsed: precision " << r.precision << ", recall " << r.recall);
  // Most samples sit inside real neighbourhoods (the balls near the dense centre leave gaps between them), while the
  // real data away from the centre is not covered at all.
  CHECK(r.precision > 0.5);
  CHECK(r.recall < 0.05);
}

TEST_CASE("precision_recall: one hand-checked point") {
  // real: 0, 1, 2, 3, 10 on a line; k = 1 radii (squared): 1, 1, 1, 1, 49. Generated: 0.5 (inside), 20 (outside the
  // 10's ball of radius 7), 6 (inside the 10's ball: 16 <= 49).
  feature_matrix real(5, 1), gen(3, 1);
  real << 0, 1, 2, 3, 10;
  gen << 0.5, 20, 6;
  const auto r = metrics::precision_recall(real, gen, 1);
  CHECK(r.precision == doctest::Approx(2.0 / 3.0).epsilon(1e-15));
  // generated radii (k = 1, squared): 0.5 → 5.5² = 30.25, 20 → 14² = 196, 6 → 30.25; every real point is within.
  CHECK(r.recall == 1.0);
}

TEST_CASE("precision_recall matches a brute-force numpy computation (tools/fixtures/metrics.py)") {
  const auto f = test::golden("metrics");
  const auto r = metrics::precision_recall(test::fixture_matrix(f, "pr_real"), test::fixture_matrix(f, "pr_fake"), 3);
  const auto expected = f.at("pr").values<double>();
  MESSAGE("precision " << r.precision << " (numpy " << expected[0] << "), recall " << r.recall << " (numpy "
                       << expected[1] << ")");
  CHECK(r.precision == expected[0]);
  CHECK(r.recall == expected[1]);
}

TEST_CASE("precision_recall refuses sets it cannot measure") {
  CHECK_THROWS_WITH_AS(metrics::precision_recall(gaussian(3, 2, 0, 1), gaussian(10, 2, 0, 2)),
                       doctest::Contains("more than k = 3 vectors"), vae::error);
  CHECK_THROWS_WITH_AS(metrics::precision_recall(gaussian(10, 2, 0, 1), gaussian(10, 3, 0, 2)),
                       doctest::Contains("same dimension"), vae::error);
}
