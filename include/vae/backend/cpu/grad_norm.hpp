// cpu kernel of the gradient-norm op: the optimizers' fixed chunks over the OpenMP pool, sums in chunk order.
#pragma once
#include <cstdint>
#include <vector>

#include "vae/backend/cpu.hpp"
#include "vae/ops/grad_norm.hpp"
#include "vae/train/optimizer.hpp"

namespace vae {

namespace cpu_detail {

// Σ g² in double, summed per chunk and then over chunks in order (the same result for any thread count).
template <class T>
double sum_of_squares(const T* g, std::int64_t n) {
  const std::int64_t chunks = (n + detail::optimizer_chunk - 1) / detail::optimizer_chunk;
  std::vector<double> partial(static_cast<std::size_t>(chunks), 0.0);
  detail::for_chunks(n, 2, [&](std::int64_t begin, std::int64_t end) {
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (std::int64_t i = begin; i < end; ++i) s += static_cast<double>(g[i]) * static_cast<double>(g[i]);
    partial[static_cast<std::size_t>(begin / detail::optimizer_chunk)] = s;
  });
  double total = 0.0;
  for (const double s : partial) total += s;
  return total;
}

// True when every g[i] is finite: g·0 is 0 for finite g and NaN for ±inf or NaN, so one NaN-propagating
// sum tests the whole range without a branch per element.
template <class T>
bool all_finite(const T* g, std::int64_t n) {
  T probe = T(0);
#pragma omp simd reduction(+ : probe)
  for (std::int64_t i = 0; i < n; ++i) probe += g[i] * T(0);
  return probe == T(0);
}

}  // namespace cpu_detail

template <>
struct kernel<grad_norm_op, cpu> {
  template <class T>
  static double sum_of_squares(std::int64_t n, const T* g) {
    return cpu_detail::sum_of_squares(g, n);
  }
  template <class T>
  static void scale(std::int64_t n, T c, T* g) {
    detail::for_chunks(n, 1, [&](std::int64_t begin, std::int64_t end) {
#pragma omp simd
      for (std::int64_t i = begin; i < end; ++i) g[i] *= c;
    });
  }
  template <class T>
  static bool all_finite(std::int64_t n, const T* g) {
    return cpu_detail::all_finite(g, n);
  }
};

}  // namespace vae
