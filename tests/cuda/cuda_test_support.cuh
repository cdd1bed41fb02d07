// Helpers for the CUDA tests: random host tensors, device round trips, and a reported element-wise comparison.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>

#include "vae/backend/cuda.hpp"
#include "vae/backend/cuda/transfer.cuh"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"

namespace vae::cuda_test {

template <class T>
tensor<T> random_tensor(shape s, generator& rng, double stddev = 1.0) {
  tensor<T> t(s);
  rng.fill_normal(t.data(), t.numel(), 0.0, stddev);
  return t;
}

struct comparison {
  bool ok = true;
  double max_abs = 0, max_rel = 0;
  std::int64_t worst = -1;
  std::string summary;
};

// |actual − expected| ≤ atol + rtol·|expected| for every element; reports the largest errors either way.
template <class T>
comparison compare(const T* actual, const T* expected, std::int64_t n, double atol, double rtol) {
  comparison c;
  for (std::int64_t i = 0; i < n; ++i) {
    const double a = actual[i], e = expected[i], err = std::abs(a - e);
    const double rel = err / std::max(std::abs(e), 1e-3);
    if (!(err <= atol + rtol * std::abs(e))) {
      if (c.ok) c.worst = i;
      c.ok = false;
    }
    if (err > c.max_abs || std::isnan(err)) c.max_abs = err;
    c.max_rel = std::max(c.max_rel, rel);
  }
  std::ostringstream out;
  out << "max abs err " << c.max_abs << ", max rel err " << c.max_rel << " (atol " << atol << ", rtol " << rtol
      << ")";
  if (!c.ok) out << " FAILED first at index " << c.worst << ": " << actual[c.worst] << " vs " << expected[c.worst];
  c.summary = out.str();
  return c;
}

// Downloads `device` and compares it with the cpu reference, printing the errors.
template <class T>
void require_close(const tensor<T, cuda>& device, const tensor<T>& reference, const std::string& label, double atol,
                   double rtol) {
  REQUIRE(device.shape() == reference.shape());
  const auto host = to<cpu>(device);
  const auto c = compare(host.data(), reference.data(), host.numel(), atol, rtol);
  MESSAGE("cuda vs cpu " << label << ": " << c.summary);
  CHECK_MESSAGE(c.ok, label << ": " << c.summary);
}

}  // namespace vae::cuda_test
