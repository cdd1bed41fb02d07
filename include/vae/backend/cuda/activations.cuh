// cuda kernel of the activation op: one thread per element, through device copies of the activation formulas.
#pragma once
#include <cmath>
#include <cstdint>
#include <numbers>

#include "vae/backend/cuda.hpp"
#include "vae/ops/activations.hpp"

namespace vae {

namespace cuda_detail {

// The policies in ops/activations.hpp are host-only (their members carry no __device__), so the device
// side has its own copy of each formula here, built from the host policy (which carries the parameters).
// Keep the two in step: tests/cuda/activations.cu compares every one with the cpu kernel.
// A policy without an entry here fails to compile with the message below.
template <class Act>
struct device_activation {
  static_assert(sizeof(Act) == 0,
                "vae cuda: this activation has no device version; add a device_activation specialisation in "
                "backend/cuda/activations.cuh");
};

template <>
struct device_activation<activation::Identity> {
  explicit device_activation(const activation::Identity&) {}
  template <class T>
  __device__ T value(T x) const { return x; }
  template <class T>
  __device__ T derivative(T, T) const { return T(1); }
};

template <>
struct device_activation<activation::ReLU> {
  explicit device_activation(const activation::ReLU&) {}
  template <class T>
  __device__ T value(T x) const { return x > T(0) ? x : T(0); }
  template <class T>
  __device__ T derivative(T x, T) const { return x > T(0) ? T(1) : T(0); }
};

template <>
struct device_activation<activation::LeakyReLU> {
  double negative_slope;
  explicit device_activation(const activation::LeakyReLU& a) : negative_slope(a.negative_slope) {}
  template <class T>
  __device__ T value(T x) const { return x > T(0) ? x : x * static_cast<T>(negative_slope); }
  template <class T>
  __device__ T derivative(T x, T) const { return x > T(0) ? T(1) : static_cast<T>(negative_slope); }
};

template <>
struct device_activation<activation::Sigmoid> {
  explicit device_activation(const activation::Sigmoid&) {}
  template <class T>
  __device__ T value(T x) const { return T(1) / (T(1) + std::exp(-x)); }
  template <class T>
  __device__ T derivative(T, T y) const { return y * (T(1) - y); }
};

template <>
struct device_activation<activation::Tanh> {
  explicit device_activation(const activation::Tanh&) {}
  template <class T>
  __device__ T value(T x) const { return std::tanh(x); }
  template <class T>
  __device__ T derivative(T, T y) const { return T(1) - y * y; }
};

template <>
struct device_activation<activation::SiLU> {
  explicit device_activation(const activation::SiLU&) {}
  template <class T>
  __device__ T value(T x) const { return x / (T(1) + std::exp(-x)); }
  template <class T>
  __device__ T derivative(T x, T) const {
    const T s = T(1) / (T(1) + std::exp(-x));
    return s * (T(1) + x * (T(1) - s));
  }
};

template <>
struct device_activation<activation::GELU> {
  explicit device_activation(const activation::GELU&) {}
  template <class T>
  __device__ T value(T x) const { return T(0.5) * x * (T(1) + std::erf(x * static_cast<T>(std::numbers::sqrt2 / 2))); }
  template <class T>
  __device__ T derivative(T x, T) const {
    const T cdf = T(0.5) * (T(1) + std::erf(x * static_cast<T>(std::numbers::sqrt2 / 2)));
    const T pdf = static_cast<T>(0.5 * std::numbers::inv_sqrtpi * std::numbers::sqrt2) * std::exp(T(-0.5) * x * x);
    return cdf + x * pdf;
  }
};

template <>
struct device_activation<activation::GELUTanh> {
  explicit device_activation(const activation::GELUTanh&) {}
  template <class T>
  __device__ T value(T x) const {
    return T(0.5) * x * (T(1) + std::tanh(k0<T>() * (x + k1<T>() * x * x * x)));
  }
  template <class T>
  __device__ T derivative(T x, T) const {
    const T x2 = x * x;
    const T t = std::tanh(k0<T>() * x * (T(1) + k1<T>() * x2));
    return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * k0<T>() * (T(1) + T(3) * k1<T>() * x2);
  }

 private:
  template <class T>
  __device__ static constexpr T k0() { return static_cast<T>(std::numbers::sqrt2 * std::numbers::inv_sqrtpi); }
  template <class T>
  __device__ static constexpr T k1() { return T(0.044715); }
};

template <>
struct device_activation<activation::Softplus> {
  double beta, threshold;
  explicit device_activation(const activation::Softplus& a) : beta(a.beta), threshold(a.threshold) {}
  template <class T>
  __device__ T value(T x) const {
    const T bx = x * static_cast<T>(beta);
    return bx > static_cast<T>(threshold) ? x : std::log1p(std::exp(bx)) / static_cast<T>(beta);
  }
  template <class T>
  __device__ T derivative(T x, T) const {
    const T bx = x * static_cast<T>(beta);
    return bx > static_cast<T>(threshold) ? T(1) : T(1) / (T(1) + std::exp(-bx));
  }
};

template <class DeviceAct, class T>
__global__ void activation_forward_kernel(DeviceAct act, std::int64_t n, const T* x, T* y) {
  const std::int64_t i = thread_index();
  if (i < n) y[i] = act.value(x[i]);
}

template <class DeviceAct, class T>
__global__ void activation_backward_kernel(DeviceAct act, std::int64_t n, const T* x, const T* y, const T* dy, T* dx) {
  const std::int64_t i = thread_index();
  if (i < n) dx[i] = dy[i] * act.derivative(x[i], y[i]);
}

}  // namespace cuda_detail

template <class Act>
struct kernel<activation_op<Act>, cuda> {
  template <class T>
  static void forward(const Act& act, std::int64_t n, const T* x, T* y) {
    if (n == 0) return;
    cuda_detail::activation_forward_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                             cuda_detail::stream()>>>(cuda_detail::device_activation<Act>(act), n, x, y);
    cuda_detail::check_launch("vae::cuda activation forward");
  }

  template <class T>
  static void backward(const Act& act, std::int64_t n, const T* x, const T* y, const T* dy, T* dx) {
    if (n == 0) return;
    cuda_detail::activation_backward_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                              cuda_detail::stream()>>>(cuda_detail::device_activation<Act>(act), n, x,
                                                                       y, dy, dx);
    cuda_detail::check_launch("vae::cuda activation backward");
  }
};

}  // namespace vae
