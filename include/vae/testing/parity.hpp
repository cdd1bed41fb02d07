// Parity helpers: load PyTorch-made fixtures (safetensors) and compare tensors with a reported max error.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>

#include "vae/core/error.hpp"
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

// Element-wise |actual − expected| ≤ atol + rtol·|expected|, reporting the largest errors. Fails on a NaN or
// infinity on either side (a non-finite fixture value would otherwise compare as "no violation") and on n ≤ 0
// (nothing compared is not a pass). Tolerances must be finite and non-negative (a vae::error otherwise).
template <class A, class E>
parity_report compare(const A* actual, const E* expected, std::int64_t n, double atol, double rtol) {
  check(std::isfinite(atol) && std::isfinite(rtol) && atol >= 0 && rtol >= 0, [&] {
    return cat("parity compare: atol and rtol must be finite and non-negative, got ", atol, " and ", rtol);
  });
  parity_report r;
  if (n <= 0) {
    r.ok = false;
    r.message = cat("nothing compared (", n, " elements): an empty comparison cannot pass");
    return r;
  }
  double worst = -1;
  for (std::int64_t i = 0; i < n; ++i) {
    const double a = static_cast<double>(actual[i]), e = static_cast<double>(expected[i]);
    const bool finite = std::isfinite(a) && std::isfinite(e);
    const double err = std::abs(a - e);
    if (finite) {
      r.max_abs_error = std::max(r.max_abs_error, err);
      r.max_rel_error = std::max(r.max_rel_error, err / std::max(std::abs(e), 1e-3));
    }
    const double violation = finite ? err - (atol + rtol * std::abs(e)) : HUGE_VAL;
    if (violation > worst) {
      worst = violation;
      r.worst_index = i;
    }
    if (violation > 0) r.ok = false;
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
