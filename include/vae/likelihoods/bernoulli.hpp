// BernoulliLikelihood: the decoder emits logits; −log p(x|z) = Σ BCE-with-logits (stable log-sigmoid).
#pragma once
#include <cstdint>
#include <span>
#include <string>

#include "vae/likelihoods/likelihood.hpp"
#include "vae/ops/likelihood_terms.hpp"

namespace vae {

// Equals F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(1) per image. Runs on every backend with a
// bernoulli_likelihood_op kernel (ops/likelihood_terms.hpp); the spans point into B's memory.
struct BernoulliLikelihood {
  template <class T, class B>
  void nll(const tensor<T, B>& out, const tensor<T, B>& x, std::span<double> per_image) const {
    const auto p = detail::check_likelihood_shapes("BernoulliLikelihood::nll", out, x, 1, per_image.size());
    ops::bernoulli_nll<B>(x.dim(0), p, out.data(), x.data(), per_image.data());
  }
  template <class T, class B>
  void backward(const tensor<T, B>& out, const tensor<T, B>& x, std::span<const double> row_weight,
                tensor<T, B>& d_out) const {
    const auto p = detail::check_likelihood_shapes("BernoulliLikelihood::backward", out, x, 1, row_weight.size());
    d_out.resize(out.shape());
    ops::bernoulli_nll_backward<B>(x.dim(0), p, out.data(), x.data(), row_weight.data(), d_out.data());
  }
  // nll() and backward() in one pass (the row weights must not depend on the nll, as the ELBO's 1/N does not).
  template <class T, class B>
  void nll_and_backward(const tensor<T, B>& out, const tensor<T, B>& x, std::span<const double> row_weight,
                        std::span<double> per_image, tensor<T, B>& d_out) const {
    const auto p = detail::check_likelihood_shapes("BernoulliLikelihood::nll_and_backward", out, x, 1, per_image.size());
    detail::check_likelihood_shapes("BernoulliLikelihood::nll_and_backward", out, x, 1, row_weight.size());
    d_out.resize(out.shape());
    ops::bernoulli_nll_and_backward<B>(x.dim(0), p, out.data(), x.data(), row_weight.data(), per_image.data(),
                                       d_out.data());
  }
  template <class T, class B>
  void mean(const tensor<T, B>& out, tensor<T, B>& pixels) const {
    pixels.resize(out.shape());
    ops::bernoulli_mean<B>(out.numel(), out.data(), pixels.data());
  }
  int output_multiplier() const { return 1; }
  template <class V>
  void visit_parameters(const std::string&, V&&) {}
};

}  // namespace vae
