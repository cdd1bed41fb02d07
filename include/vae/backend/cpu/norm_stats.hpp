// Shared helpers of the cpu normalisation kernels: sums and two-pass moments accumulated in double.
#pragma once
#include <cmath>
#include <cstdint>

namespace vae::cpu_detail {

// The sums below run in this many independent double lanes, added together at the end: a single running sum is a
// chain of dependent additions (one per add latency), the lanes vectorise. The result depends on n only, never on
// threads.
inline constexpr std::int64_t norm_lanes = 8;

// Σ x[i] over n contiguous values, accumulated in double (float inputs lose nothing to the running sum).
template <class T>
double sum(const T* x, std::int64_t n) {
  double lane[norm_lanes] = {};
  std::int64_t i = 0;
  for (; i + norm_lanes <= n; i += norm_lanes)
    for (std::int64_t k = 0; k < norm_lanes; ++k) lane[k] += static_cast<double>(x[i + k]);
  double s = 0;
  for (; i < n; ++i) s += static_cast<double>(x[i]);
  for (std::int64_t k = 0; k < norm_lanes; ++k) s += lane[k];
  return s;
}

// Σ (x[i] − mean)² over n contiguous values: the second pass of a two-pass variance (no cancellation).
template <class T>
double sum_squared_deviation(const T* x, std::int64_t n, double mean) {
  double lane[norm_lanes] = {};
  std::int64_t i = 0;
  for (; i + norm_lanes <= n; i += norm_lanes)
    for (std::int64_t k = 0; k < norm_lanes; ++k) {
      const double v = static_cast<double>(x[i + k]) - mean;
      lane[k] += v * v;
    }
  double s = 0;
  for (; i < n; ++i) {
    const double v = static_cast<double>(x[i]) - mean;
    s += v * v;
  }
  for (std::int64_t k = 0; k < norm_lanes; ++k) s += lane[k];
  return s;
}

// Σ g[i] and Σ g[i]·(x[i] − mean) over n contiguous values (a normalisation's backward), in double lanes as sum.
template <class T>
void sum_and_centered_dot(const T* g, const T* x, std::int64_t n, double mean, double& sum_g, double& sum_gx) {
  double a[norm_lanes] = {}, b[norm_lanes] = {};
  std::int64_t i = 0;
  for (; i + norm_lanes <= n; i += norm_lanes)
    for (std::int64_t k = 0; k < norm_lanes; ++k) {
      const double gv = static_cast<double>(g[i + k]);
      a[k] += gv;
      b[k] += gv * (static_cast<double>(x[i + k]) - mean);
    }
  double sa = 0, sb = 0;
  for (; i < n; ++i) {
    const double gv = static_cast<double>(g[i]);
    sa += gv;
    sb += gv * (static_cast<double>(x[i]) - mean);
  }
  for (std::int64_t k = 0; k < norm_lanes; ++k) {
    sa += a[k];
    sb += b[k];
  }
  sum_g = sa;
  sum_gx = sb;
}

// 1/√(var + eps), as PyTorch's rstd.
inline double inverse_std(double var, double eps) { return 1.0 / std::sqrt(var + eps); }

}  // namespace vae::cpu_detail
