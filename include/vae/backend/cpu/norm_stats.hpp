// Shared helpers of the cpu normalisation kernels: sums and two-pass moments accumulated in double.
#pragma once
#include <cmath>
#include <cstdint>

namespace vae::cpu_detail {

// Σ x[i] over n contiguous values, accumulated in double (float inputs lose nothing to the running sum).
template <class T>
double sum(const T* x, std::int64_t n) {
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]);
  return s;
}

// Σ (x[i] − mean)² over n contiguous values: the second pass of a two-pass variance (no cancellation).
template <class T>
double sum_squared_deviation(const T* x, std::int64_t n, double mean) {
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double v = static_cast<double>(x[i]) - mean;
    s += v * v;
  }
  return s;
}

// 1/√(var + eps), as PyTorch's rstd.
inline double inverse_std(double var, double eps) { return 1.0 / std::sqrt(var + eps); }

}  // namespace vae::cpu_detail
