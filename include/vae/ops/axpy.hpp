// BLAS-1 ops on raw buffers: out = y + a·x (axpy), Σ x·y (dot, in double) and out = x / d (divide); what a model
// needs to combine, measure and scale gradients without reading device memory element by element.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/losses.hpp"

namespace vae {

struct axpy_op {};  // kernel<axpy_op, B>: axpy, dot, divide

namespace ops {
// out[i] = y[i] + a·x[i] for i < n (out may alias x or y), computed in T with a rounded to T once.
template <class B, class T>
void axpy(std::int64_t n, double a, const T* x, const T* y, T* out) {
  kernel<axpy_op, B>::axpy(n, static_cast<T>(a), x, y, out);
}
// Σ_{i<n} x[i]·y[i] accumulated in double; the result comes back to the host. dot(n, g, g) is ‖g‖².
template <class B, class T>
double dot(std::int64_t n, const T* x, const T* y) {
  return kernel<axpy_op, B>::dot(n, x, y);
}
// out[i] = x[i] / divisor for i < n (out may alias x), the quotient taken in double and rounded to T once: a batch
// mean's 1/N applied to a gradient, as a host loop `x[i] = T(x[i] / n)` would.
template <class B, class T>
void divide(std::int64_t n, const T* x, double divisor, T* out) {
  kernel<axpy_op, B>::divide(n, x, divisor, out);
}
}  // namespace ops

// cpu kernel: axpy parallel over elements; dot in the loss ops' fixed chunks (the order, and so the value, does not
// depend on the thread count).
template <>
struct kernel<axpy_op, cpu> {
  template <class T>
  static void axpy(std::int64_t n, T a, const T* x, const T* y, T* out) {
    parallel_for(n, n, [&](std::int64_t i) { out[i] = y[i] + a * x[i]; });
  }
  template <class T>
  static void divide(std::int64_t n, const T* x, double divisor, T* out) {
    parallel_for(n, n, [&](std::int64_t i) { out[i] = static_cast<T>(static_cast<double>(x[i]) / divisor); });
  }
  template <class T>
  static double dot(std::int64_t n, const T* x, const T* y) {
    return cpu_detail::chunked_sum(n, 2, [&](std::int64_t begin, std::int64_t end) {
      double s = 0;
      for (std::int64_t i = begin; i < end; ++i) s += static_cast<double>(x[i]) * static_cast<double>(y[i]);
      return s;
    });
  }
};

}  // namespace vae

#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/axpy.cuh"
#endif
