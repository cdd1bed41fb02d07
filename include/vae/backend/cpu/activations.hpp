// cpu kernel of the activation op: contiguous chunks on the OpenMP pool, a plain (vectorisable) loop per chunk.
#pragma once
#include <Eigen/Core>
#include <algorithm>
#include <concepts>
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/gelu_float.hpp"
#include "vae/ops/activations.hpp"

namespace vae {

namespace cpu_detail {
// Elements per parallel task: large enough to amortise scheduling, small enough to stay in L1/L2.
inline constexpr std::int64_t activation_chunk = 1 << 13;
// Rough scalar operations per element of a transcendental activation, for parallel_for's threshold.
inline constexpr std::int64_t activation_cost = 16;

template <class Body>
void activation_chunks(std::int64_t n, std::int64_t cost_per_element, Body&& body) {
  const std::int64_t chunks = (n + activation_chunk - 1) / activation_chunk;
  parallel_for(chunks, n * cost_per_element, [&](std::int64_t c) {
    const std::int64_t begin = c * activation_chunk;
    body(begin, std::min(n, begin + activation_chunk));
  });
}
}  // namespace cpu_detail

template <class Act>
struct kernel<activation_op<Act>, cpu> {
  template <class T>
  static void forward(const Act& act, std::int64_t n, const T* x, T* y) {
    cpu_detail::activation_chunks(n, cpu_detail::activation_cost, [&](std::int64_t begin, std::int64_t end) {
      if constexpr (silu_arrays<T>) {  // SiLU's exp through Eigen's SIMD exp: a loop over std::exp does not vectorise
        const auto xs = array(x, begin, end);
        array(y, begin, end) = xs / (T(1) + (-xs).exp());
      } else if constexpr (gelu_floats<T>) {
        cpu_detail::gelu_float::forward(x + begin, y + begin, end - begin);
      } else {
        for (std::int64_t i = begin; i < end; ++i) y[i] = act.value(x[i]);
      }
    });
  }

  template <class T>
  static void backward(const Act& act, std::int64_t n, const T* x, const T* y, const T* dy, T* dx) {
    cpu_detail::activation_chunks(n, cpu_detail::activation_cost, [&](std::int64_t begin, std::int64_t end) {
      if constexpr (silu_arrays<T>) {  // σ(x)·(1 + x·(1 − σ(x))), as activation::SiLU::derivative
        const auto xs = array(x, begin, end);
        const auto s = (T(1) / (T(1) + (-xs).exp())).eval();
        array(dx, begin, end) = array(dy, begin, end) * s * (T(1) + xs * (T(1) - s));
      } else if constexpr (gelu_floats<T>) {
        cpu_detail::gelu_float::backward(x + begin, dy + begin, dx + begin, end - begin);
      } else {
        for (std::int64_t i = begin; i < end; ++i) dx[i] = dy[i] * act.derivative(x[i], y[i]);
      }
    });
  }

 private:
  // SiLU in float or double runs on Eigen arrays (exp within 2 ulp of std::exp, see tests/layers/activations.cpp).
  template <class T>
  static constexpr bool silu_arrays =
      std::same_as<Act, activation::SiLU> && (std::same_as<T, float> || std::same_as<T, double>);
  // GELU (erf form) in float through gelu_float.hpp's vectorised Φ; double keeps std::erf (gradient checks).
  template <class T>
  static constexpr bool gelu_floats = std::same_as<Act, activation::GELU> && std::same_as<T, float>;
  template <class T>
  static auto array(const T* p, std::int64_t begin, std::int64_t end) {
    return Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(p + begin, end - begin);
  }
  template <class T>
  static auto array(T* p, std::int64_t begin, std::int64_t end) {
    return Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(p + begin, end - begin);
  }
};

}  // namespace vae
