// Tests for quantizers/kmeans.hpp: nearest codes on the host against a brute-force argmin (in every row blocking),
// k-means on well-separated clusters (plain and spherical), determinism in the generator, and an empty cluster.
#include "vae/quantizers/kmeans.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "vae/core/rng.hpp"

namespace kmeans_test {
// Rows [M, d] around `centres` [K, d], row r near centre r % K, spread ±0.1.
std::vector<double> clustered_rows(const std::vector<double>& centres, std::int64_t K, std::int64_t d, std::int64_t M,
                                   vae::generator& rng) {
  std::vector<double> z(static_cast<std::size_t>(M * d));
  for (std::int64_t r = 0; r < M; ++r)
    for (std::int64_t j = 0; j < d; ++j) z[r * d + j] = centres[(r % K) * d + j] + 0.1 * rng.normal();
  return z;
}
// Index of the centre row of E [K, d] nearest to point c (d values).
std::int64_t nearest_row(const double* c, const double* E, std::int64_t K, std::int64_t d) {
  std::int64_t best = 0;
  double best_s = INFINITY;
  for (std::int64_t k = 0; k < K; ++k) {
    double s = 0;
    for (std::int64_t j = 0; j < d; ++j) s += (c[j] - E[k * d + j]) * (c[j] - E[k * d + j]);
    if (s < best_s) best_s = s, best = k;
  }
  return best;
}
}  // namespace kmeans_test

TEST_CASE("nearest_codes_on_host agrees with a brute-force argmin for every row blocking") {
  const std::int64_t M = 23, K = 5, d = 3;
  vae::generator rng(11);
  std::vector<double> z(M * d), E(K * d);
  for (auto& v : z) v = rng.normal();
  for (auto& v : E) v = rng.normal();
  std::vector<std::int32_t> expected(M);
  for (std::int64_t r = 0; r < M; ++r)
    expected[r] = static_cast<std::int32_t>(kmeans_test::nearest_row(z.data() + r * d, E.data(), K, d));
  int blockings = 0;
  for (std::int64_t block : {std::int64_t{1}, std::int64_t{4}, std::int64_t{7}, M, M + 5}) {
    std::vector<std::int32_t> idx;
    vae::detail::nearest_codes_on_host(z.data(), E.data(), M, K, d, block, idx);
    CHECK(idx == expected);
    ++blockings;
  }
  CHECK(blockings == 5);
}

TEST_CASE("kmeans puts one centroid on each well-separated cluster, the same for the same generator") {
  const std::int64_t K = 3, d = 2, M = 30;
  const std::vector<double> centres = {5, 0, -5, 5, 0, -6};
  vae::generator data_rng(7);
  const auto z = kmeans_test::clustered_rows(centres, K, d, M, data_rng);
  std::vector<double> E(K * d), again(K * d);
  vae::generator rng(4), rng2(4);
  vae::detail::kmeans(z.data(), E.data(), M, K, d, /*iters=*/10, /*cosine=*/false, 1e-12, /*block=*/M, rng);
  vae::detail::kmeans(z.data(), again.data(), M, K, d, 10, false, 1e-12, /*block=*/4, rng2);
  CHECK(E == again);  // the row blocking does not change the result
  // Each true centre has a centroid within the spread, and each centroid is the mean of its cluster's rows.
  std::vector<int> hit(K, 0);
  for (std::int64_t c = 0; c < K; ++c) {
    const auto k = kmeans_test::nearest_row(centres.data() + c * d, E.data(), K, d);
    ++hit[k];
    for (std::int64_t j = 0; j < d; ++j) {
      double mean = 0;
      for (std::int64_t r = c; r < M; r += K) mean += z[r * d + j];
      CHECK(E[k * d + j] == doctest::Approx(mean / (M / K)).epsilon(1e-12));
    }
  }
  CHECK(hit == std::vector<int>{1, 1, 1});
}

TEST_CASE("spherical kmeans (cosine) gives unit centroids along the clusters' directions") {
  const std::int64_t K = 2, d = 2, M = 20;
  const std::vector<double> centres = {3, 0, 0, -2};
  vae::generator data_rng(3), rng(9);
  const auto z = kmeans_test::clustered_rows(centres, K, d, M, data_rng);
  std::vector<double> E(K * d);
  vae::detail::kmeans(z.data(), E.data(), M, K, d, 5, /*cosine=*/true, 1e-12, M, rng);
  int unit = 0;
  for (std::int64_t k = 0; k < K; ++k) {
    CHECK(std::hypot(E[k * d], E[k * d + 1]) == doctest::Approx(1.0).epsilon(1e-12));
    ++unit;
  }
  CHECK(unit == 2);
  const std::vector<double> dirs = {1, 0, 0, -1};
  for (std::int64_t c = 0; c < K; ++c) {
    const auto k = kmeans_test::nearest_row(dirs.data() + c * d, E.data(), K, d);
    CHECK(E[k * d] * dirs[c * d] + E[k * d + 1] * dirs[c * d + 1] > 0.99);
  }
}

TEST_CASE("kmeans with more codes than distinct rows keeps every centroid on a row") {
  // Two distinct rows, three codes: seeding falls back to uniform draws once every row is a centroid, so the third
  // code duplicates a row; its cluster may stay empty, and an empty cluster keeps its centroid.
  const std::int64_t K = 3, d = 1, M = 4;
  const std::vector<double> z = {1, 1, -2, -2};
  std::vector<double> E(K * d, 99.0);
  vae::generator rng(1);
  vae::detail::kmeans(z.data(), E.data(), M, K, d, 4, false, 1e-12, M, rng);
  int ones = 0, twos = 0;
  for (double e : E) ones += e == 1.0, twos += e == -2.0;
  CHECK(ones + twos == 3);
  CHECK(ones >= 1);  // k-means++ seeds the second code on the row farthest from the first
  CHECK(twos >= 1);
}
