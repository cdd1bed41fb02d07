// Gaussian likelihoods: fixed variance c, one learned global σ, or a learned σ per pixel (decoder emits log σ).
#pragma once
#include <cmath>
#include <span>
#include <string>

#include "vae/distributions/gaussian.hpp"
#include "vae/likelihoods/likelihood.hpp"
#include "vae/core/memory_space.hpp"
#include "vae/ops/likelihood_terms.hpp"

namespace vae {

// −log N(x | out, c·I) exactly: Σ ½(x − out)²/c + ½ log(2πc). The decoder output is the mean. Runs on every backend
// with a gaussian_likelihood_op kernel (ops/likelihood_terms.hpp); the spans point into B's memory.
struct GaussianLikelihood {
  double variance = 1.0;

  template <class T, class B>
  void nll(const tensor<T, B>& out, const tensor<T, B>& x, std::span<double> per_image) const {
    check(variance > 0, [&] { return cat("GaussianLikelihood: variance must be positive, got ", variance); });
    const auto p = detail::check_likelihood_shapes("GaussianLikelihood::nll", out, x, 1, per_image.size());
    ops::gaussian_nll<B>(x.dim(0), p, variance, out.data(), x.data(), per_image.data());
  }
  template <class T, class B>
  void backward(const tensor<T, B>& out, const tensor<T, B>& x, std::span<const double> row_weight,
                tensor<T, B>& d_out) const {
    const auto p = detail::check_likelihood_shapes("GaussianLikelihood::backward", out, x, 1, row_weight.size());
    d_out.resize(out.shape());
    ops::gaussian_nll_backward<B>(x.dim(0), p, variance, out.data(), x.data(), row_weight.data(), d_out.data());
  }
  template <class T, class B>
  void mean(const tensor<T, B>& out, tensor<T, B>& pixels) const { pixels = out; }
  int output_multiplier() const { return 1; }
  template <class V>
  void visit_parameters(const std::string&, V&&) {}
};

// −log N(x | out, σ²I) with one learned parameter "log_sigma" (shape [1], initialised to 0):
// Σ ½(x − out)² e^{−2s} + s + ½ log 2π.
template <class T = float, class B = cpu>
class GaussianLearnedGlobalSigma {
  static_assert(HostBackend<B>, "GaussianLearnedGlobalSigma: host backends only for now");

 public:
  using value_type = T;
  GaussianLearnedGlobalSigma() {
    log_sigma_.shape = {1};
    log_sigma_.init = parameter_init::constant(0.0);
  }
  void nll(const tensor<T, B>& out, const tensor<T, B>& x, std::span<double> per_image) const {
    check(log_sigma_.bound(), "GaussianLearnedGlobalSigma: parameters are not attached to a parameter_store");
    const auto p = detail::check_likelihood_shapes("GaussianLearnedGlobalSigma::nll", out, x, 1, per_image.size());
    const double s = log_sigma_.value[0], inv = std::exp(-2 * s);
    for (std::int64_t i = 0; i < x.dim(0); ++i) {
      double acc = 0;
      for (std::int64_t j = i * p; j < (i + 1) * p; ++j) {
        const double d = static_cast<double>(x[j]) - out[j];
        acc += 0.5 * d * d * inv + s + 0.5 * dist::log_2pi;
      }
      per_image[static_cast<std::size_t>(i)] = acc;
    }
  }
  void backward(const tensor<T, B>& out, const tensor<T, B>& x, std::span<const double> row_weight,
                tensor<T, B>& d_out) {
    const auto p =
        detail::check_likelihood_shapes("GaussianLearnedGlobalSigma::backward", out, x, 1, row_weight.size());
    d_out.resize(out.shape());
    const double s = log_sigma_.value[0], inv = std::exp(-2 * s);
    double ds = 0;
    for (std::int64_t i = 0; i < x.dim(0); ++i) {
      const double w = row_weight[static_cast<std::size_t>(i)];
      for (std::int64_t j = i * p; j < (i + 1) * p; ++j) {
        const double d = static_cast<double>(out[j]) - x[j];
        d_out[j] = static_cast<T>(w * d * inv);
        ds += w * (1.0 - d * d * inv);
      }
    }
    if (T* g = log_sigma_.grad_to_add()) g[0] = static_cast<T>(g[0] + ds);
  }
  void mean(const tensor<T, B>& out, tensor<T, B>& pixels) const { pixels = out; }
  int output_multiplier() const { return 1; }
  template <class V>
  void visit_parameters(const std::string& prefix, V&& visit) {
    visit(prefix + "log_sigma", log_sigma_);
  }
  parameter<T>& log_sigma() { return log_sigma_; }

 private:
  parameter<T> log_sigma_;
};

// The decoder emits 2P values per image: the first P are the mean, the last P the log σ of each pixel
// (torch.chunk(2, dim=1) of [N, 2C, H, W] or [N, 2P]). −log p = Σ ½(x − m)² e^{−2s} + s + ½ log 2π.
struct GaussianLearnedPixelSigma {
  template <class T, class B>
  void nll(const tensor<T, B>& out, const tensor<T, B>& x, std::span<double> per_image) const {
    static_assert(HostBackend<B>, "GaussianLearnedPixelSigma: host backends only for now");
    const auto p = detail::check_likelihood_shapes("GaussianLearnedPixelSigma::nll", out, x, 2, per_image.size());
    for (std::int64_t i = 0; i < x.dim(0); ++i) {
      double acc = 0;
      for (std::int64_t j = 0; j < p; ++j) {
        const double m = out[2 * p * i + j], s = out[2 * p * i + p + j];
        const double d = static_cast<double>(x[p * i + j]) - m;
        acc += 0.5 * d * d * std::exp(-2 * s) + s + 0.5 * dist::log_2pi;
      }
      per_image[static_cast<std::size_t>(i)] = acc;
    }
  }
  template <class T, class B>
  void backward(const tensor<T, B>& out, const tensor<T, B>& x, std::span<const double> row_weight,
                tensor<T, B>& d_out) const {
    static_assert(HostBackend<B>, "GaussianLearnedPixelSigma: host backends only for now");
    const auto p =
        detail::check_likelihood_shapes("GaussianLearnedPixelSigma::backward", out, x, 2, row_weight.size());
    d_out.resize(out.shape());
    for (std::int64_t i = 0; i < x.dim(0); ++i) {
      const double w = row_weight[static_cast<std::size_t>(i)];
      for (std::int64_t j = 0; j < p; ++j) {
        const double m = out[2 * p * i + j], s = out[2 * p * i + p + j];
        const double d = m - static_cast<double>(x[p * i + j]), inv = std::exp(-2 * s);
        d_out[2 * p * i + j] = static_cast<T>(w * d * inv);
        d_out[2 * p * i + p + j] = static_cast<T>(w * (1.0 - d * d * inv));
      }
    }
  }
  // The mean channels, shaped like the data: [N, P] for flat outputs, [N, C, H, W] for pictures.
  template <class T, class B>
  void mean(const tensor<T, B>& out, tensor<T, B>& pixels) const {
    static_assert(HostBackend<B>, "GaussianLearnedPixelSigma: host backends only for now");
    shape s = out.shape();
    check(s.rank() >= 2 && s[1] % 2 == 0,
          [&] { return cat("GaussianLearnedPixelSigma::mean: expected [N, 2C, ...], got ", out.shape()); });
    s[1] /= 2;
    pixels.resize(s);
    const std::int64_t n = s[0], p = pixels.numel() / n;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < p; ++j) pixels[p * i + j] = out[2 * p * i + j];
  }
  int output_multiplier() const { return 2; }
  template <class V>
  void visit_parameters(const std::string&, V&&) {}
};

}  // namespace vae
