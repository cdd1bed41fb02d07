// inception_score: exp(E_x KL(p(y|x) ‖ p(y))) of a classifier's class probabilities over generated images.
#pragma once
#include <Eigen/Core>
#include <cmath>

#include "vae/core/error.hpp"
#include "vae/metrics/feature_statistics.hpp"

namespace vae::metrics {

// probabilities: [n, classes], rows summing to 1. Computed over the whole set (one split), in double; 0·log 0 = 0.
// It lies in [1, classes]: 1 when every image gets the same prediction, `classes` for confident, evenly spread ones.
inline double inception_score(const feature_matrix& probabilities) {
  check(probabilities.rows() >= 1 && probabilities.cols() >= 1,
        "inception_score: need at least one row of class probabilities");
  check(probabilities.allFinite() && probabilities.minCoeff() >= 0.0,
        "inception_score: probabilities must be finite and non-negative");
  const Eigen::RowVectorXd marginal = probabilities.colwise().mean();
  double kl_sum = 0;
  for (Eigen::Index i = 0; i < probabilities.rows(); ++i)
    for (Eigen::Index c = 0; c < probabilities.cols(); ++c) {
      const double p = probabilities(i, c);
      if (p > 0) kl_sum += p * (std::log(p) - std::log(marginal(c)));
    }
  return std::exp(kl_sum / static_cast<double>(probabilities.rows()));
}

}  // namespace vae::metrics
