// Parity helpers: load PyTorch-made fixtures (safetensors) and compare tensors with a reported max error.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>

#include "vae/io/safetensors.hpp"

namespace vae::testing {

struct parity_report {
  bool ok = true;
  double max_abs_error = 0.0;
  double max_rel_error = 0.0;  // relative to max(|expected|, 1e-3), so tiny values do not dominate
  std::int64_t worst_index = -1;
  std::string message;  // filled on failure: where and by how much

  std::string summary(const std::string& what) const {
    std::ostringstream out;
    out << what << ": max abs err " << max_abs_error << ", max rel err " << max_rel_error << (ok ? "" : " FAILED ")
        << message;
    return out.str();
  }
};

// Element-wise |actual − expected| ≤ atol + rtol·|expected|, reporting the largest errors.
template <class A, class E>
parity_report compare(const A* actual, const E* expected, std::int64_t n, double atol, double rtol) {
  parity_report r;
  double worst = -1;
  for (std::int64_t i = 0; i < n; ++i) {
    const double a = static_cast<double>(actual[i]), e = static_cast<double>(expected[i]);
    const double err = std::abs(a - e);
    r.max_abs_error = std::max(r.max_abs_error, err);
    r.max_rel_error = std::max(r.max_rel_error, err / std::max(std::abs(e), 1e-3));
    const double violation = err - (atol + rtol * std::abs(e));
    if (violation > worst || !std::isfinite(a)) {
      worst = std::isfinite(a) ? violation : 1e300;
      r.worst_index = i;
    }
    if (violation > 0 || !std::isfinite(a)) r.ok = false;
  }
  if (!r.ok) {
    std::ostringstream m;
    m << "at [" << r.worst_index << "]: got " << static_cast<double>(actual[r.worst_index]) << ", expected "
      << static_cast<double>(expected[r.worst_index]);
    r.message = m.str();
  }
  return r;
}

// Compares a tensor with the fixture tensor `name`, checking the shapes match first.
template <class T>
parity_report compare_with_fixture(const tensor<T>& actual, const io::safetensors_file& fixture,
                                   const std::string& name, double atol = 1e-5, double rtol = 1e-4) {
  const auto& stored = fixture.at(name);
  check_shape(actual.shape(), stored.dims, ("parity: fixture tensor '" + name + "'").c_str());
  const auto expected = stored.values<double>();
  return compare(actual.data(), expected.data(), actual.numel(), atol, rtol);
}

}  // namespace vae::testing
