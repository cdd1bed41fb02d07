// frechet_distance: the Fréchet (2-Wasserstein) distance between two Gaussians fitted to feature sets (FID's formula).
#pragma once
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <string>

#include "vae/core/error.hpp"
#include "vae/metrics/feature_statistics.hpp"

namespace vae::metrics {

struct frechet_result {
  double distance = 0;      // ‖μa − μb‖² + tr Σa + tr Σb − 2 tr (Σa^½ Σb Σa^½)^½
  double mean_term = 0;     // ‖μa − μb‖²
  double trace_term = 0;    // the rest
  std::string warning;      // non-empty when a covariance is singular because a set has n ≤ d vectors
};

namespace detail {
// The PSD square root of a symmetric matrix through its eigen-decomposition; eigenvalues below 0 (rounding on a
// singular matrix) are taken as 0, so the root exists for every covariance.
inline Eigen::MatrixXd psd_sqrt(const Eigen::MatrixXd& a) {
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(a);
  check(es.info() == Eigen::Success, "frechet_distance: the eigen-decomposition of a covariance did not converge");
  const Eigen::VectorXd root = es.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  return es.eigenvectors() * root.asDiagonal() * es.eigenvectors().transpose();
}
}  // namespace detail

// The trace of (Σa Σb)^½ is computed in the symmetric form tr (Σa^½ Σb Σa^½)^½ (the same value: the two matrices are
// similar), whose eigenvalues are real and ≥ 0 up to rounding; this needs no complex square root (scipy.linalg.sqrtm
// of the non-symmetric product, as pytorch-fid does) and stays finite for singular covariances.
inline frechet_result frechet_distance(const feature_statistics& a, const feature_statistics& b) {
  check(a.dim() == b.dim() && a.dim() > 0, [&] {
    return cat("frechet_distance: the two feature sets must have the same dimension, got ", a.dim(), " and ", b.dim());
  });
  frechet_result r;
  r.mean_term = (a.mean - b.mean).squaredNorm();
  const Eigen::MatrixXd ra = detail::psd_sqrt(a.covariance);
  Eigen::MatrixXd m = ra * b.covariance * ra;
  m = 0.5 * (m + m.transpose());  // exactly symmetric for the solver
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(m, Eigen::EigenvaluesOnly);
  check(es.info() == Eigen::Success, "frechet_distance: the eigen-decomposition did not converge");
  const double tr_root = es.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
  r.trace_term = a.covariance.trace() + b.covariance.trace() - 2 * tr_root;
  r.distance = r.mean_term + r.trace_term;
  for (const auto* s : {&a, &b}) {
    if (s->singular_by_count() && r.warning.empty())
      r.warning = cat("a feature set has ", s->n, " vectors in ", s->dim(),
                      " dimensions, so its covariance is singular (rank <= ", s->n - 1,
                      "); the distance was computed with its eigenvalues clamped at 0 and is biased: use n > ", s->dim());
  }
  return r;
}

inline frechet_result frechet_distance(const feature_matrix& a, const feature_matrix& b) {
  return frechet_distance(feature_statistics::of(a), feature_statistics::of(b));
}

}  // namespace vae::metrics
