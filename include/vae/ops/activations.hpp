// Elementwise activations as small policy types (value, derivative) and the op that maps them over a buffer.
#pragma once
#include <cmath>
#include <cstdint>
#include <numbers>

#include "vae/backend/cpu.hpp"

namespace vae {

// Activation policies. Each is a small copyable struct with
//   T value(T x) const           : y = f(x)
//   T derivative(T x, T y) const : f'(x), given x and y = f(x) (whichever is cheaper to use)
// and a `name` for messages. Stateless ones are empty, so a kernel (or a later GEMM epilogue that fuses
// bias + activation) takes them by value at no cost. Conventions follow PyTorch, including the
// derivative at kinks: ReLU'(0) = 0, LeakyReLU'(0) = negative_slope.
namespace activation {

struct Identity {
  static constexpr const char* name = "Identity";
  template <class T>
  T value(T x) const { return x; }
  template <class T>
  T derivative(T, T) const { return T(1); }
};

struct ReLU {
  static constexpr const char* name = "ReLU";
  template <class T>
  T value(T x) const { return x > T(0) ? x : T(0); }
  template <class T>
  T derivative(T x, T) const { return x > T(0) ? T(1) : T(0); }
};

struct LeakyReLU {
  static constexpr const char* name = "LeakyReLU";
  double negative_slope = 0.01;
  template <class T>
  T value(T x) const { return x > T(0) ? x : x * static_cast<T>(negative_slope); }
  template <class T>
  T derivative(T x, T) const { return x > T(0) ? T(1) : static_cast<T>(negative_slope); }
};

struct Sigmoid {
  static constexpr const char* name = "Sigmoid";
  template <class T>
  T value(T x) const { return T(1) / (T(1) + std::exp(-x)); }
  template <class T>
  T derivative(T, T y) const { return y * (T(1) - y); }
};

struct Tanh {
  static constexpr const char* name = "Tanh";
  template <class T>
  T value(T x) const { return std::tanh(x); }
  template <class T>
  T derivative(T, T y) const { return T(1) - y * y; }
};

// SiLU (Swish): x·σ(x); derivative σ(x)·(1 + x·(1 − σ(x))).
struct SiLU {
  static constexpr const char* name = "SiLU";
  template <class T>
  T value(T x) const { return x / (T(1) + std::exp(-x)); }
  template <class T>
  T derivative(T x, T) const {
    const T s = T(1) / (T(1) + std::exp(-x));
    return s * (T(1) + x * (T(1) - s));
  }
};

// GELU, exact form (PyTorch's default approximate='none'): x·Φ(x) with Φ(x) = ½(1 + erf(x/√2));
// derivative Φ(x) + x·φ(x).
struct GELU {
  static constexpr const char* name = "GELU";
  template <class T>
  T value(T x) const { return T(0.5) * x * (T(1) + std::erf(x * static_cast<T>(std::numbers::sqrt2 / 2))); }
  template <class T>
  T derivative(T x, T) const {
    const T cdf = T(0.5) * (T(1) + std::erf(x * static_cast<T>(std::numbers::sqrt2 / 2)));
    const T pdf = static_cast<T>(0.5 * std::numbers::inv_sqrtpi * std::numbers::sqrt2) * std::exp(T(-0.5) * x * x);
    return cdf + x * pdf;
  }
};

// GELU, tanh approximation (PyTorch approximate='tanh'): ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
struct GELUTanh {
  static constexpr const char* name = "GELU(tanh)";
  template <class T>
  T value(T x) const {
    return T(0.5) * x * (T(1) + std::tanh(k0<T>() * (x + k1<T>() * x * x * x)));
  }
  template <class T>
  T derivative(T x, T) const {
    const T x2 = x * x;
    const T t = std::tanh(k0<T>() * x * (T(1) + k1<T>() * x2));
    return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * k0<T>() * (T(1) + T(3) * k1<T>() * x2);
  }

 private:
  template <class T>
  static constexpr T k0() { return static_cast<T>(std::numbers::sqrt2 * std::numbers::inv_sqrtpi); }  // √(2/π)
  template <class T>
  static constexpr T k1() { return T(0.044715); }
};

// Softplus (PyTorch nn.Softplus): log(1 + exp(βx))/β, and x itself where βx > threshold (linear regime);
// derivative σ(βx), and 1 in the linear regime.
struct Softplus {
  static constexpr const char* name = "Softplus";
  double beta = 1.0;
  double threshold = 20.0;
  template <class T>
  T value(T x) const {
    const T bx = x * static_cast<T>(beta);
    return bx > static_cast<T>(threshold) ? x : std::log1p(std::exp(bx)) / static_cast<T>(beta);
  }
  template <class T>
  T derivative(T x, T) const {
    const T bx = x * static_cast<T>(beta);
    return bx > static_cast<T>(threshold) ? T(1) : T(1) / (T(1) + std::exp(-bx));
  }
};

}  // namespace activation

// Op tag: one kernel per activation policy, so a backend may specialise a single activation.
template <class Act>
struct activation_op {};

namespace ops {
// y[i] = act.value(x[i]) for i < n. y may alias x.
template <class B, class Act, class T>
void activation_forward(const Act& act, std::int64_t n, const T* x, T* y) {
  kernel<activation_op<Act>, B>::forward(act, n, x, y);
}
// dx[i] = dy[i] · act.derivative(x[i], y[i]) for i < n (WRITES dx). dx may alias dy.
template <class B, class Act, class T>
void activation_backward(const Act& act, std::int64_t n, const T* x, const T* y, const T* dy, T* dx) {
  kernel<activation_op<Act>, B>::backward(act, n, x, y, dy, dx);
}
}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/activations.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/activations.cuh"
#endif
