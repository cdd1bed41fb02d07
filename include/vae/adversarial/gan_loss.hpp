// The GanLoss concept and its two policies, HingeLoss and NonSaturatingLoss: discriminator and generator terms of
// patch logits, with their gradients in the logits.
#pragma once
#include <concepts>
#include <cstdint>
#include <type_traits>

#include "vae/core/tensor.hpp"
#include "vae/ops/losses.hpp"

namespace vae {

// GanLoss: the adversarial objective as functions of discriminator logits (any shape, e.g. [N, 1, h, w] patches).
// The discriminator loss is a sum of a real and a fake part, each a function of its own logits only, so a
// discriminator with BatchNorm can run real and fake as two separate batches, forward and backward one after the
// other, as taming does (D(x) and D(x̂) are two calls). Each call returns the term's value and, when `grad` is not
// null, resizes it to the logits' shape and WRITES the term's gradient in the logits:
//   discriminator_real(logits_real, grad)   the real part of L_D (minimised by the discriminator)
//   discriminator_fake(logits_fake, grad)   the fake part of L_D
//   generator(logits_fake, grad)            L_G (minimised by the generator through D(x̂))
template <class G>
concept GanLoss = requires(G& g, const tensor<typename G::value_type, typename G::backend>& logits,
                           tensor<typename G::value_type, typename G::backend>* grad) {
  typename G::value_type;
  typename G::backend;
  { G::name } -> std::convertible_to<const char*>;
  { g.discriminator_real(logits, grad) } -> std::convertible_to<double>;
  { g.discriminator_fake(logits, grad) } -> std::convertible_to<double>;
  { g.generator(logits, grad) } -> std::convertible_to<double>;
};

namespace detail {
// The per-element constants the loss policies read (±1 signs, 0/1 targets), kept filled between calls.
template <class T, class B>
class constant_tensor {
 public:
  const tensor<T, B>& get(const shape& s, double value) {
    if (t_.shape() != s || value_ != value || !filled_) {
      t_.resize(s);
      t_.fill(static_cast<T>(value));
      value_ = value;
      filled_ = true;
    }
    return t_;
  }

 private:
  tensor<T, B> t_;
  double value_ = 0;
  bool filled_ = false;
};

// Σ w·loss(x, c) with the gradient (if asked) written into grad, for a constant c.
template <class Loss, class T, class B>
double constant_target_loss(constant_tensor<T, B>& c, const tensor<T, B>& logits, double value, double w,
                            std::type_identity_t<tensor<T, B>>* grad) {
  const auto& t = c.get(logits.shape(), value);
  if (grad) grad->resize(logits.shape());
  return ops::weighted_elementwise_loss<B>(Loss{}, logits.numel(), logits.data(), t.data(), w,
                                           grad ? grad->data() : nullptr);
}
}  // namespace detail

// mean(logits), on any backend (the logged logits_real / logits_fake).
template <class T, class B>
double mean_logit(const tensor<T, B>& logits) {
  check(logits.numel() > 0, "mean_logit: empty logits");
  detail::constant_tensor<T, B> ones;
  return detail::constant_target_loss<losses::NegatedProduct>(ones, logits, 1.0,
                                                              -1.0 / static_cast<double>(logits.numel()), nullptr);
}

// Hinge loss (Lim & Ye 2017; taming's hinge_d_loss and g_loss):
//   L_D = ½·mean relu(1 − D(x)) + ½·mean relu(1 + D(x̂)),   L_G = −mean D(x̂).
template <class T = float, class B = cpu>
class HingeLoss {
 public:
  using value_type = T;
  using backend = B;
  static constexpr const char* name = "hinge";

  double discriminator_real(const tensor<T, B>& logits, tensor<T, B>* grad) {
    return detail::constant_target_loss<losses::Hinge>(plus_, logits, 1.0, half_mean(logits), grad);
  }
  double discriminator_fake(const tensor<T, B>& logits, tensor<T, B>* grad) {
    return detail::constant_target_loss<losses::Hinge>(minus_, logits, -1.0, half_mean(logits), grad);
  }
  double generator(const tensor<T, B>& logits, tensor<T, B>* grad) {
    return detail::constant_target_loss<losses::NegatedProduct>(plus_, logits, 1.0, 2 * half_mean(logits), grad);
  }

 private:
  static double half_mean(const tensor<T, B>& logits) {
    check(logits.numel() > 0, "HingeLoss: empty logits");
    return 0.5 / static_cast<double>(logits.numel());
  }
  detail::constant_tensor<T, B> plus_, minus_;
};

// The original (vanilla) GAN loss in its softplus form (taming's vanilla_d_loss):
//   L_D = ½·mean softplus(−D(x)) + ½·mean softplus(D(x̂)),   L_G = mean softplus(−D(x̂)),
// the non-saturating generator term of Goodfellow et al. 2014 (taming's VQLPIPSWithDiscriminator uses −mean D(x̂)
// with either D loss; HingeLoss is that pairing). softplus(−x) = BCE-with-logits(x, 1), softplus(x) = BCE(x, 0).
template <class T = float, class B = cpu>
class NonSaturatingLoss {
 public:
  using value_type = T;
  using backend = B;
  static constexpr const char* name = "non_saturating";

  double discriminator_real(const tensor<T, B>& logits, tensor<T, B>* grad) {
    return detail::constant_target_loss<losses::BCEWithLogits>(ones_, logits, 1.0, half_mean(logits), grad);
  }
  double discriminator_fake(const tensor<T, B>& logits, tensor<T, B>* grad) {
    return detail::constant_target_loss<losses::BCEWithLogits>(zeros_, logits, 0.0, half_mean(logits), grad);
  }
  double generator(const tensor<T, B>& logits, tensor<T, B>* grad) {
    return detail::constant_target_loss<losses::BCEWithLogits>(ones_, logits, 1.0, 2 * half_mean(logits), grad);
  }

 private:
  static double half_mean(const tensor<T, B>& logits) {
    check(logits.numel() > 0, "NonSaturatingLoss: empty logits");
    return 0.5 / static_cast<double>(logits.numel());
  }
  detail::constant_tensor<T, B> ones_, zeros_;
};

}  // namespace vae
