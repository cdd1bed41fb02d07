// precision_recall: improved precision and recall of generated samples (Kynkäänniemi et al. 2019, k-NN manifolds).
#pragma once
#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <vector>

#include "vae/backend/cpu.hpp"
#include "vae/core/error.hpp"
#include "vae/metrics/feature_statistics.hpp"

namespace vae::metrics {

struct precision_recall_result {
  double precision = 0;  // share of generated samples inside the real manifold
  double recall = 0;     // share of real samples inside the generated manifold
  std::int64_t k = 3;
};

namespace detail {
// Rows of a and b are compared in blocks of this many rows of a, so memory stays at block × |b| doubles.
inline constexpr std::int64_t distance_block_rows = 256;

// Squared Euclidean distances between rows [r0, r1) of a and every row of b: ‖a‖² + ‖b‖² − 2 a·b, at least 0.
inline void squared_distances(const feature_matrix& a, std::int64_t r0, std::int64_t r1, const feature_matrix& b,
                              const Eigen::VectorXd& b_norms, feature_matrix& out) {
  const auto rows = a.middleRows(r0, r1 - r0);
  out.noalias() = -2.0 * rows * b.transpose();
  const Eigen::VectorXd a_norms = rows.rowwise().squaredNorm();
  out.colwise() += a_norms;
  out.rowwise() += b_norms.transpose();
  out = out.cwiseMax(0.0);
}

// The squared distance of each row of x to its k-th nearest other row of x (the row itself, at distance 0, is not
// counted: the (k+1)-th smallest distance including it), the radius of its k-NN ball.
inline std::vector<double> knn_radii(const feature_matrix& x, std::int64_t k) {
  const std::int64_t n = x.rows();
  const Eigen::VectorXd norms = x.rowwise().squaredNorm();
  std::vector<double> radii(static_cast<std::size_t>(n));
  const std::int64_t blocks = (n + distance_block_rows - 1) / distance_block_rows;
  parallel_for(blocks, blocks * distance_block_rows * n * x.cols(), [&](std::int64_t blk) {
    const std::int64_t r0 = blk * distance_block_rows, r1 = std::min(n, r0 + distance_block_rows);
    feature_matrix d;
    squared_distances(x, r0, r1, x, norms, d);
    std::vector<double> row(static_cast<std::size_t>(n));
    for (std::int64_t i = r0; i < r1; ++i) {
      for (std::int64_t j = 0; j < n; ++j) row[static_cast<std::size_t>(j)] = d(i - r0, j);
      row[static_cast<std::size_t>(i)] = 0.0;  // rounding can leave the self-distance slightly above 0
      std::nth_element(row.begin(), row.begin() + k, row.end());
      radii[static_cast<std::size_t>(i)] = row[static_cast<std::size_t>(k)];
    }
  });
  return radii;
}

// Share of rows of `query` within the k-NN ball of at least one row of `manifold` (distance ≤ that row's radius).
inline double coverage(const feature_matrix& manifold, const std::vector<double>& radii, const feature_matrix& query) {
  const std::int64_t n = query.rows();
  const Eigen::VectorXd norms = manifold.rowwise().squaredNorm();
  std::vector<char> inside(static_cast<std::size_t>(n), 0);
  const std::int64_t blocks = (n + distance_block_rows - 1) / distance_block_rows;
  parallel_for(blocks, blocks * distance_block_rows * manifold.rows() * query.cols(), [&](std::int64_t blk) {
    const std::int64_t r0 = blk * distance_block_rows, r1 = std::min(n, r0 + distance_block_rows);
    feature_matrix d;
    squared_distances(query, r0, r1, manifold, norms, d);
    for (std::int64_t i = r0; i < r1; ++i)
      for (std::int64_t j = 0; j < manifold.rows(); ++j)
        if (d(i - r0, j) <= radii[static_cast<std::size_t>(j)]) {
          inside[static_cast<std::size_t>(i)] = 1;
          break;
        }
  });
  std::int64_t count = 0;
  for (char c : inside) count += c;
  return static_cast<double>(count) / static_cast<double>(n);
}
}  // namespace detail

// Improved precision (generated samples inside the union of the real samples' k-NN balls) and recall (real samples
// inside the generated samples' balls), with exact distances in double; each set needs more than k vectors.
inline precision_recall_result precision_recall(const feature_matrix& real, const feature_matrix& generated,
                                                std::int64_t k = 3) {
  check(real.cols() == generated.cols(), [&] {
    return cat("precision_recall: the two feature sets must have the same dimension, got ", real.cols(), " and ",
               generated.cols());
  });
  check(k >= 1 && real.rows() > k && generated.rows() > k, [&] {
    return cat("precision_recall: each set needs more than k = ", k, " vectors, got ", real.rows(), " real and ",
               generated.rows(), " generated");
  });
  check(real.allFinite() && generated.allFinite(), "precision_recall: the features contain NaN or inf");
  precision_recall_result r;
  r.k = k;
  r.precision = detail::coverage(real, detail::knn_radii(real, k), generated);
  r.recall = detail::coverage(generated, detail::knn_radii(generated, k), real);
  return r;
}

}  // namespace vae::metrics
