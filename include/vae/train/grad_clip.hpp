// Gradient norm clipping (torch.nn.utils.clip_grad_norm_) over the flat trainable range, and a finite check naming the culprit.
#pragma once
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vae/core/error.hpp"
#include "vae/core/parameters.hpp"
#include "vae/train/optimizer.hpp"

namespace vae {

namespace detail {

// Runs f(host pointer to the trainable grads, n) and, when `write_back`, copies the host copy back to the
// backend. For host backends the pointer is the store's own buffer; others are staged through the host
// (correct, not fast: a device backend that clips every step deserves a kernel).
template <class T, class B, class F>
auto with_host_grads(parameter_store<T, B>& store, bool write_back, F&& f) {
  const std::int64_t n = store.trainable_size();
  if constexpr (host_backend<B>) {
    (void)write_back;
    return f(store.grads(), n);
  } else {
    std::vector<T> host(static_cast<std::size_t>(n));
    B::copy_to_host(host.data(), store.grads(), host.size());
    auto result = f(host.data(), n);
    if (write_back) B::copy_from_host(store.grads(), host.data(), host.size());
    return result;
  }
}

// Σ g² in double, summed per chunk and then over chunks in order (the same result for any thread count).
template <class T>
double sum_of_squares(const T* g, std::int64_t n) {
  const std::int64_t chunks = (n + optimizer_chunk - 1) / optimizer_chunk;
  std::vector<double> partial(static_cast<std::size_t>(chunks), 0.0);
  for_chunks(n, 2, [&](std::int64_t begin, std::int64_t end) {
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (std::int64_t i = begin; i < end; ++i) s += static_cast<double>(g[i]) * static_cast<double>(g[i]);
    partial[static_cast<std::size_t>(begin / optimizer_chunk)] = s;
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

}  // namespace detail

// L2 norm of all trainable gradients together (the norm of the per-parameter norms), accumulated in double.
template <class T, class B>
double grad_norm(parameter_store<T, B>& store) {
  return detail::with_host_grads(store, false, [](const T* g, std::int64_t n) {
    return std::sqrt(detail::sum_of_squares(g, n));
  });
}

// torch.nn.utils.clip_grad_norm_(params, max_norm): scales every trainable gradient by
// max_norm / (total_norm + 1e-6) when that factor is below 1, and returns the total norm before clipping.
// Unlike PyTorch, a non-finite total norm leaves the gradients as they are (PyTorch would scale them by NaN),
// so first_nonfinite_grad can still say where the problem is.
template <class T, class B>
double clip_grad_norm(parameter_store<T, B>& store, double max_norm) {
  check(max_norm > 0, [&] { return cat("clip_grad_norm: max_norm must be > 0, got ", max_norm); });
  return detail::with_host_grads(store, true, [&](T* g, std::int64_t n) {
    const double total = std::sqrt(detail::sum_of_squares(g, n));
    const double coef = max_norm / (total + 1e-6);
    if (std::isfinite(total) && coef < 1.0) {
      const T c = static_cast<T>(coef);
      detail::for_chunks(n, 1, [&](std::int64_t begin, std::int64_t end) {
#pragma omp simd
        for (std::int64_t i = begin; i < end; ++i) g[i] *= c;
      });
    }
    return total;
  });
}

// The name of the first trainable parameter (in store order) whose gradient holds a NaN or ±inf, or nothing
// when all are finite. Training loops call it when the loss or the gradient norm is not finite, to stop and say where.
template <class T, class B>
std::optional<std::string> first_nonfinite_grad(parameter_store<T, B>& store) {
  return detail::with_host_grads(store, false, [&](const T* g, std::int64_t) -> std::optional<std::string> {
    for (const auto& e : store.entries())
      if (e.trainable && !detail::all_finite(g + e.offset, e.shape.numel())) return e.name;
    return std::nullopt;
  });
}

}  // namespace vae
