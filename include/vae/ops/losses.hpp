// Loss ops: MSE, L1, BCE-with-logits (elementwise policies) and cross-entropy over class logits; value and input
// gradient.
#pragma once
#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <type_traits>

#include "vae/backend/cpu.hpp"
#include "vae/core/tensor.hpp"

namespace vae {

// How per-element (per-sample for cross-entropy) losses combine, as PyTorch's `reduction`.
// none: the per-element losses are written out; the returned value is their sum and the gradient is that of
// the sum (so a caller weighting element i by w_i scales dx[i] by w_i).
enum class loss_reduction { none, mean, sum };

// Elementwise loss policies: double value(x, t) and double derivative(x, t) = ∂value/∂x, plus a `name`.
namespace losses {

// (x − t)²; derivative 2(x − t).
struct MSE {
  static constexpr const char* name = "mse_loss";
  double value(double x, double t) const { return (x - t) * (x - t); }
  double derivative(double x, double t) const { return 2 * (x - t); }
};

// |x − t|; derivative sign(x − t) with sign(0) = 0, as PyTorch.
struct L1 {
  static constexpr const char* name = "l1_loss";
  double value(double x, double t) const { return std::abs(x - t); }
  double derivative(double x, double t) const { return x > t ? 1.0 : (x < t ? -1.0 : 0.0); }
};

// Binary cross-entropy on a logit x against a target probability t ∈ [0, 1], in the stable form
// max(x, 0) − x·t + log1p(exp(−|x|)); derivative σ(x) − t with σ evaluated without overflow.
struct BCEWithLogits {
  static constexpr const char* name = "bce_with_logits_loss";
  double value(double x, double t) const { return std::max(x, 0.0) - x * t + std::log1p(std::exp(-std::abs(x))); }
  double derivative(double x, double t) const {
    const double e = std::exp(-std::abs(x));
    return (x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e)) - t;
  }
};

// The adversarial terms (adversarial/gan_loss.hpp, adversarial/lecam.hpp), each a function of a logit x and a
// per-element constant t that the caller fills.
// Hinge on a signed logit: max(0, 1 − t·x), t = +1 for real and −1 for fake logits; derivative −t where
// 1 − t·x > 0, else 0 (relu'(0) = 0, as PyTorch). A NaN logit gives a NaN value, as torch.relu (std::max would
// drop it), so a training loop's finite check sees it; the same holds for the two squared terms below.
struct Hinge {
  static constexpr const char* name = "hinge_loss";
  double value(double x, double t) const {
    const double m = 1.0 - t * x;
    return m < 0 ? 0.0 : m;
  }
  double derivative(double x, double t) const { return 1.0 - t * x > 0 ? -t : 0.0; }
};

// −t·x; derivative −t. With t = 1 its mean is the negated mean logit (the hinge generator term −mean D(x̂)).
struct NegatedProduct {
  static constexpr const char* name = "negated_product";
  double value(double x, double t) const { return -t * x; }
  double derivative(double, double t) const { return -t; }
};

// max(0, x − t)²; derivative 2·max(0, x − t). LeCam's real term, t the moving average of fake logits.
struct ExcessSquared {
  static constexpr const char* name = "excess_squared";
  double value(double x, double t) const { return x < t ? 0.0 : (x - t) * (x - t); }
  double derivative(double x, double t) const { return x > t ? 2 * (x - t) : 0.0; }
};

// max(0, t − x)²; derivative −2·max(0, t − x). LeCam's fake term, t the moving average of real logits.
struct DeficitSquared {
  static constexpr const char* name = "deficit_squared";
  double value(double x, double t) const { return t < x ? 0.0 : (t - x) * (t - x); }
  double derivative(double x, double t) const { return t > x ? -2 * (t - x) : 0.0; }
};

}  // namespace losses

// Op tags: one kernel per elementwise loss policy, and one for cross-entropy.
template <class Loss>
struct elementwise_loss_op {};
struct cross_entropy_op {};

// PyTorch's default ignore_index of cross_entropy.
inline constexpr std::int64_t default_ignore_index = -100;

namespace ops {
// Σ or mean over i < n of loss(x[i], target[i]) (see loss_reduction). dx (nullable) is WRITTEN with the gradient
// in x of the returned value (of the sum for none); per_element (nullable, used with none) gets each loss.
template <class B, class Loss, class T>
double elementwise_loss(const Loss& loss, std::int64_t n, const T* x, const T* target, loss_reduction r, T* dx,
                        T* per_element = nullptr) {
  const double value = kernel<elementwise_loss_op<Loss>, B>::run(
      loss, n, x, target, r == loss_reduction::mean && n > 0 ? 1.0 / n : 1.0, dx, per_element);
  return r == loss_reduction::mean ? value / static_cast<double>(n) : value;
}

// Cross-entropy of logits [rows, classes] against class indices target [rows] (int32 or int64), with the
// log-softmax evaluated stably: loss_i = logsumexp(x_i) − x_i[target_i]. Rows whose target equals
// ignore_index contribute 0 and get a zero gradient; mean divides by the number of other rows (NaN when there
// are none, as PyTorch). dx (nullable) is WRITTEN: (softmax(x_i) − onehot(target_i)) / count (mean) or × 1.
// per_element (nullable, used with none) gets each row's loss. A target outside [0, classes) that is not
// ignore_index throws vae::error. PyTorch's class weights and label smoothing are not supported.
// Σ_{i<n} w·loss(x[i], target[i]) with dx (nullable) WRITTEN as w·loss'(x[i], target[i]): a mean with a factor
// folded in (w = 0.5/n for half a mean), so that no second pass scales the gradient.
template <class B, class Loss, class T>
double weighted_elementwise_loss(const Loss& loss, std::int64_t n, const T* x, const T* target, double w, T* dx) {
  return w * kernel<elementwise_loss_op<Loss>, B>::run(loss, n, x, target, w, dx, static_cast<T*>(nullptr));
}

template <class B, class T, std::integral I>
double cross_entropy_loss(std::int64_t rows, std::int64_t classes, const T* logits, const I* target, loss_reduction r,
                          T* dx, T* per_element = nullptr, std::int64_t ignore_index = default_ignore_index) {
  return kernel<cross_entropy_op, B>::run(rows, classes, logits, target, ignore_index, r, dx, per_element);
}

}  // namespace ops

namespace detail {
// An optional output tensor: a plain pointer in a non-deduced context, so callers may pass nullptr as is.
template <class T, class B>
using output = std::type_identity_t<tensor<T, B>>*;

template <class T, class B>
void prepare_loss_outputs(const char* name, const shape& per_element_shape, const shape& x_shape, loss_reduction r,
                          tensor<T, B>* dx, tensor<T, B>* per_element) {
  check(r != loss_reduction::none || per_element != nullptr,
        [&] { return cat(name, ": reduction none needs a tensor for the per-element losses"); });
  if (dx) dx->resize(x_shape);
  if (per_element && r == loss_reduction::none) per_element->resize(per_element_shape);
}

template <class Loss, class T, class B>
double elementwise_loss_tensors(const Loss& loss, const tensor<T, B>& x, const tensor<T, B>& target, tensor<T, B>* dx,
                                loss_reduction r, tensor<T, B>* per_element) {
  check(x.shape() == target.shape(), [&] {
    return cat(Loss::name, ": input and target must have the same shape, got input ", x.shape(), " and target ",
               target.shape());
  });
  prepare_loss_outputs(Loss::name, x.shape(), x.shape(), r, dx, per_element);
  return ops::elementwise_loss<B>(loss, x.numel(), x.data(), target.data(), r, dx ? dx->data() : nullptr,
                                  per_element && r == loss_reduction::none ? per_element->data() : nullptr);
}
}  // namespace detail

namespace ops {
// Tensor forms: x and target of one shape; dx (nullable; nullptr is accepted as is) is resized to x's shape and
// WRITTEN; with reduction none, `per_element` is required and resized to x's shape. Returns the reduced value.
template <class T, class B>
double mse_loss(const tensor<T, B>& x, const tensor<T, B>& target, vae::detail::output<T, B> dx = nullptr,
                loss_reduction r = loss_reduction::mean, vae::detail::output<T, B> per_element = nullptr) {
  return vae::detail::elementwise_loss_tensors(losses::MSE{}, x, target, dx, r, per_element);
}
template <class T, class B>
double l1_loss(const tensor<T, B>& x, const tensor<T, B>& target, vae::detail::output<T, B> dx = nullptr,
               loss_reduction r = loss_reduction::mean, vae::detail::output<T, B> per_element = nullptr) {
  return vae::detail::elementwise_loss_tensors(losses::L1{}, x, target, dx, r, per_element);
}
template <class T, class B>
double bce_with_logits_loss(const tensor<T, B>& x, const tensor<T, B>& target, vae::detail::output<T, B> dx = nullptr,
                            loss_reduction r = loss_reduction::mean, vae::detail::output<T, B> per_element = nullptr) {
  return vae::detail::elementwise_loss_tensors(losses::BCEWithLogits{}, x, target, dx, r, per_element);
}
// logits [N, C], target [N] of int32/int64 class indices; per_element (reduction none) is resized to [N].
template <class T, class B, std::integral I>
double cross_entropy_loss(const tensor<T, B>& logits, const tensor<I, B>& target,
                          vae::detail::output<T, B> dx = nullptr, loss_reduction r = loss_reduction::mean,
                          vae::detail::output<T, B> per_element = nullptr,
                          std::int64_t ignore_index = default_ignore_index) {
  check(logits.rank() == 2 && target.rank() == 1 && target.dim(0) == logits.dim(0) && logits.dim(1) > 0, [&] {
    return cat("cross_entropy_loss: expected logits [N, C] and target [N], got logits ", logits.shape(), " and target ",
               target.shape());
  });
  vae::detail::prepare_loss_outputs("cross_entropy_loss", target.shape(), logits.shape(), r, dx, per_element);
  return cross_entropy_loss<B>(logits.dim(0), logits.dim(1), logits.data(), target.data(), r, dx ? dx->data() : nullptr,
                               per_element && r == loss_reduction::none ? per_element->data() : nullptr, ignore_index);
}
}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/losses.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/losses.cuh"
#endif
