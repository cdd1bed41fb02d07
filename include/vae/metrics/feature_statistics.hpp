// feature_statistics: the mean and covariance of a set of feature vectors (rows), in double, for Fréchet distances.
#pragma once
#include <Eigen/Core>
#include <cstdint>

#include "vae/core/error.hpp"

namespace vae::metrics {

// Row-major [n, d] feature matrix, as the feature nets write them.
using feature_matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Mean and unbiased covariance (divided by n − 1, as numpy.cov and pytorch-fid) of n feature vectors of dimension d.
struct feature_statistics {
  Eigen::VectorXd mean;
  Eigen::MatrixXd covariance;
  std::int64_t n = 0;

  std::int64_t dim() const { return mean.size(); }
  // With n ≤ d the covariance has rank at most n − 1 < d: it is singular.
  bool singular_by_count() const { return n <= dim(); }

  static feature_statistics of(const feature_matrix& features) {
    check(features.rows() >= 2 && features.cols() >= 1, [&] {
      return cat("feature_statistics: need at least 2 feature vectors of dimension >= 1, got ", features.rows(), " x ",
                 features.cols());
    });
    check(features.allFinite(), "feature_statistics: the features contain NaN or inf");
    feature_statistics s;
    s.n = features.rows();
    s.mean = features.colwise().mean().transpose();
    const feature_matrix centred = features.rowwise() - s.mean.transpose();
    s.covariance = (centred.transpose() * centred) / static_cast<double>(s.n - 1);
    return s;
  }
};

}  // namespace vae::metrics
