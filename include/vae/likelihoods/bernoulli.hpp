// BernoulliLikelihood: the decoder emits logits; −log p(x|z) = Σ BCE-with-logits (stable log-sigmoid).
#pragma once
#include <cmath>
#include <span>
#include <string>

#include "vae/backend/cpu.hpp"
#include "vae/distributions/gaussian.hpp"
#include "vae/likelihoods/likelihood.hpp"

namespace vae {

// Equals F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(1) per image.
struct BernoulliLikelihood {
  template <class T, class B>
  void nll(const tensor<T, B>& out, const tensor<T, B>& x, std::span<double> per_image) const {
    const auto p = detail::check_likelihood_shapes("BernoulliLikelihood::nll", out, x, 1, per_image.size());
    // Rows in parallel, each summed serially in double: the result does not depend on the thread count.
    parallel_for(x.dim(0), 20 * x.numel(), [&](std::int64_t i) {
      double s = 0;
      for (std::int64_t j = i * p; j < (i + 1) * p; ++j) {
        const double o = out[j];
        s += dist::softplus(o) - o * static_cast<double>(x[j]);
      }
      per_image[static_cast<std::size_t>(i)] = s;
    });
  }
  template <class T, class B>
  void backward(const tensor<T, B>& out, const tensor<T, B>& x, std::span<const double> row_weight,
                tensor<T, B>& d_out) const {
    const auto p = detail::check_likelihood_shapes("BernoulliLikelihood::backward", out, x, 1, row_weight.size());
    d_out.resize(out.shape());
    parallel_for(x.dim(0), 20 * x.numel(), [&](std::int64_t i) {
      const double w = row_weight[static_cast<std::size_t>(i)];
      for (std::int64_t j = i * p; j < (i + 1) * p; ++j)
        d_out[j] = static_cast<T>(w * (dist::sigmoid(out[j]) - static_cast<double>(x[j])));
    });
  }
  template <class T, class B>
  void mean(const tensor<T, B>& out, tensor<T, B>& pixels) const {
    pixels.resize(out.shape());
    for (std::int64_t j = 0; j < out.numel(); ++j) pixels[j] = static_cast<T>(dist::sigmoid(out[j]));
  }
  int output_multiplier() const { return 1; }
  template <class V>
  void visit_parameters(const std::string&, V&&) {}
};

}  // namespace vae
