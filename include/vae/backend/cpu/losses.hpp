// cpu kernels of the loss ops: fixed chunks on the OpenMP pool with per-chunk double partial sums (deterministic).
#pragma once
#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>

#include "vae/backend/cpu.hpp"
#include "vae/core/error.hpp"
#include "vae/ops/losses.hpp"

namespace vae {

namespace cpu_detail {
// The reduction splits [0, n) into at most this many chunks of at least loss_min_chunk_cost scalar operations,
// fixed by n and the cost alone, so the summation order, and the result, do not depend on the thread count.
inline constexpr std::int64_t loss_max_chunks = 256;
inline constexpr std::int64_t loss_min_chunk_cost = 1 << 14;

// Σ body(begin, end) over the chunks of [0, n), each chunk's partial summed in chunk order.
template <class Body>
double chunked_sum(std::int64_t n, std::int64_t cost_per_item, Body&& body) {
  const std::int64_t chunk = std::max({std::int64_t{1}, loss_min_chunk_cost / std::max(cost_per_item, std::int64_t{1}),
                                       (n + loss_max_chunks - 1) / loss_max_chunks});
  const std::int64_t chunks = (n + chunk - 1) / chunk;
  std::array<double, loss_max_chunks> partial{};
  parallel_for(chunks, n * cost_per_item, [&](std::int64_t c) {
    const std::int64_t begin = c * chunk;
    partial[static_cast<std::size_t>(c)] = body(begin, std::min(n, begin + chunk));
  });
  double s = 0;
  for (std::int64_t c = 0; c < chunks; ++c) s += partial[static_cast<std::size_t>(c)];
  return s;
}
}  // namespace cpu_detail

template <class Loss>
struct kernel<elementwise_loss_op<Loss>, cpu> {
  // Returns Σ loss(x[i], t[i]); dx[i] = grad_scale·loss'(x[i], t[i]) and per_element[i] = loss(x[i], t[i]) when
  // non-null.
  template <class T>
  static double run(const Loss& loss, std::int64_t n, const T* x, const T* target, double grad_scale, T* dx,
                    T* per_element) {
    return cpu_detail::chunked_sum(n, 16, [&](std::int64_t begin, std::int64_t end) {
      double s = 0;
      for (std::int64_t i = begin; i < end; ++i) {
        const double xi = static_cast<double>(x[i]), ti = static_cast<double>(target[i]);
        const double v = loss.value(xi, ti);
        s += v;
        if (per_element) per_element[i] = static_cast<T>(v);
        if (dx) dx[i] = static_cast<T>(grad_scale * loss.derivative(xi, ti));
      }
      return s;
    });
  }
};

template <>
struct kernel<cross_entropy_op, cpu> {
  template <class T, class I>
  static double run(std::int64_t rows, std::int64_t classes, const T* logits, const I* target,
                    std::int64_t ignore_index, loss_reduction r, T* dx, T* per_element) {
    // Validate first (serially): an exception must not leave an OpenMP region.
    std::int64_t count = 0;
    for (std::int64_t i = 0; i < rows; ++i) {
      const auto t = static_cast<std::int64_t>(target[i]);
      if (t == ignore_index) continue;
      check(t >= 0 && t < classes, [&] {
        return cat("cross_entropy_loss: target ", t, " at position ", i, " is out of range for ", classes, " classes");
      });
      ++count;
    }
    const double scale = r == loss_reduction::mean ? 1.0 / static_cast<double>(count) : 1.0;
    const double total = cpu_detail::chunked_sum(rows, classes * 16, [&](std::int64_t begin, std::int64_t end) {
      if constexpr (std::same_as<T, float>) return float_rows(begin, end, classes, logits, target, ignore_index, scale,
                                                              dx, per_element);
      double s = 0;
      for (std::int64_t i = begin; i < end; ++i) {
        const T* xs = logits + i * classes;
        const auto t = static_cast<std::int64_t>(target[i]);
        if (t == ignore_index) {
          if (per_element) per_element[i] = T(0);
          if (dx) std::fill(dx + i * classes, dx + (i + 1) * classes, T(0));
          continue;
        }
        double m = static_cast<double>(xs[0]);
        for (std::int64_t j = 1; j < classes; ++j) m = std::max(m, static_cast<double>(xs[j]));
        double z = 0;
        for (std::int64_t j = 0; j < classes; ++j) z += std::exp(static_cast<double>(xs[j]) - m);
        const double lse = m + std::log(z);
        const double v = lse - static_cast<double>(xs[t]);
        s += v;
        if (per_element) per_element[i] = static_cast<T>(v);
        if (dx) {
          T* ds = dx + i * classes;
          for (std::int64_t j = 0; j < classes; ++j)
            ds[j] = static_cast<T>(scale * (std::exp(static_cast<double>(xs[j]) - lse) - (j == t ? 1.0 : 0.0)));
        }
      }
      return s;
    });
    if (r == loss_reduction::mean)
      return count > 0 ? total / static_cast<double>(count) : std::numeric_limits<double>::quiet_NaN();
    return total;
  }

 private:
  // Rows [begin, end) in float, as PyTorch computes them: one vectorised exp(x − max) per logit (Eigen's, within
  // 2 ulp of std::exp) into a buffer whose sum gives log-sum-exp and whose scaled copy is the gradient. The double
  // path above takes two scalar double exps per logit, the larger part of a GPT prior's loss over 1024 codes.
  template <class I>
  static double float_rows(std::int64_t begin, std::int64_t end, std::int64_t classes, const float* logits,
                           const I* target, std::int64_t ignore_index, double scale, float* dx, float* per_element) {
    Eigen::ArrayXf e(classes);  // aligned: the sum's order, and its result, do not depend on the logits' address
    double s = 0;
    for (std::int64_t i = begin; i < end; ++i) {
      const auto t = static_cast<std::int64_t>(target[i]);
      if (t == ignore_index) {
        if (per_element) per_element[i] = 0.f;
        if (dx) std::fill(dx + i * classes, dx + (i + 1) * classes, 0.f);
        continue;
      }
      const Eigen::Map<const Eigen::ArrayXf> x(logits + i * classes, classes);
      const float m = x.maxCoeff();
      e = (x - m).exp();
      const double z = static_cast<double>(e.sum());
      const double v = static_cast<double>(m) + std::log(z) - static_cast<double>(x[t]);
      s += v;
      if (per_element) per_element[i] = static_cast<float>(v);
      if (dx) {
        Eigen::Map<Eigen::ArrayXf> d(dx + i * classes, classes);
        d = e * static_cast<float>(scale / z);
        d[t] -= static_cast<float>(scale);
      }
    }
    return s;
  }
};

}  // namespace vae
