// gelu_float: float GELU (PyTorch's exact erf form) and its derivative over whole arrays, vectorised through Eigen.
#pragma once
#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <numbers>

namespace vae::cpu_detail {

// std::erf does not vectorise, and Eigen's erf is a tanh-like fit 1.5e-6 off. Φ(x) = ½·erfc(−z), z = x/√2, comes
// from two pieces fitted by tools/fit_gelu_float.py (which also prints their float32 error: 1.6e-7·max(1, |ref|)):
//   |z| ≤ 0.9:  Φ = ½ + ½·z·P(z²);
//   |z| > 0.9:  erfc(|z|) = exp(−z²)·Q(1/(1 + |z|/2)), so the tail Φ(x < 0) keeps its relative accuracy where
//               1 + erf(z) would cancel. exp(−z²) = exp(−x²/2) is also the Gaussian density the derivative needs.
struct gelu_float {
  static constexpr float split = 0.9f;
  static constexpr float p[6] = {1.128379107e+00f, -3.761255443e-01f, 1.128240898e-01f,
                                 -2.678740025e-02f, 5.023286678e-03f, -6.144085783e-04f};
  static constexpr float q[10] = {1.697489438e-06f, 2.820369601e-01f, 2.829515338e-01f, 2.395779788e-01f,
                                  2.150684297e-01f, -5.188070610e-02f, 3.059555590e-01f, -4.990473688e-01f,
                                  2.804771662e-01f, -5.503905937e-02f};
  static constexpr std::int64_t block = 512;  // a block's temporaries stay in L1
  using array = Eigen::Array<float, Eigen::Dynamic, 1, 0, block, 1>;

  // y = x·Φ(x) for n elements.
  static void forward(const float* x, float* y, std::int64_t n) {
    for_blocks(x, n, [&](std::int64_t at, const array& xs, const array& phi, const array&) {
      Eigen::Map<Eigen::ArrayXf>(y + at, xs.size()) = xs * phi;
    });
  }

  // dx = dy·(Φ(x) + x·φ(x)) for n elements.
  static void backward(const float* x, const float* dy, float* dx, std::int64_t n) {
    constexpr auto inv_sqrt_2pi = static_cast<float>(std::numbers::inv_sqrtpi / std::numbers::sqrt2);
    for_blocks(x, n, [&](std::int64_t at, const array& xs, const array& phi, const array& gauss) {
      const auto m = xs.size();
      Eigen::Map<Eigen::ArrayXf>(dx + at, m) =
          Eigen::Map<const Eigen::ArrayXf>(dy + at, m) * (phi + xs * (inv_sqrt_2pi * gauss));
    });
  }

 private:
  // Calls body(offset, x, Φ(x), exp(−x²/2)) block by block.
  template <class Body>
  static void for_blocks(const float* x, std::int64_t n, Body&& body) {
    array xs, z, s, gauss, poly, t, tail, phi;
    for (std::int64_t at = 0; at < n; at += block) {
      const std::int64_t m = std::min(block, n - at);
      xs = Eigen::Map<const Eigen::ArrayXf>(x + at, m);
      z = xs * static_cast<float>(std::numbers::sqrt2 / 2);
      s = z.square();
      gauss = (-s).exp();
      poly.setConstant(m, p[5]);
      for (int k = 4; k >= 0; --k) poly = poly * s + p[k];
      t = 1.f / (1.f + 0.5f * z.abs());
      tail.setConstant(m, q[9]);
      for (int k = 8; k >= 0; --k) tail = tail * t + q[k];
      tail = 0.5f * gauss * tail;  // ½·erfc(|z|)
      phi = (z.abs() <= split).select(0.5f + 0.5f * z * poly, (z > 0.f).select(1.f - tail, tail));
      body(at, xs, phi, gauss);
    }
  }
};

}  // namespace vae::cpu_detail
