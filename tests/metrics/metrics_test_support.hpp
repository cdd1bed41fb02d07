// Helpers of the metrics tests: fixture tensors as feature matrices.
#pragma once
#include <string>

#include "../test_support.hpp"
#include "vae/metrics/feature_statistics.hpp"

namespace vae::test {

// A 2-d float64 fixture tensor as a row-major feature matrix.
inline metrics::feature_matrix fixture_matrix(const io::safetensors_file& f, const std::string& name) {
  const auto& t = f.at(name);
  const auto v = t.values<double>();
  metrics::feature_matrix m(t.dims[0], t.dims[1]);
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j) m(i, j) = v[static_cast<std::size_t>(i * m.cols() + j)];
  return m;
}

}  // namespace vae::test
