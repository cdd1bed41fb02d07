// The perceptual slot of VQGAN: the PerceptualLoss concept and NoPerceptual, the policy that adds nothing.
#pragma once
#include <concepts>

#include "vae/core/tensor.hpp"

namespace vae {

// PerceptualLoss<P, T, B>: loss(x, x̂, grad) returns a distance between x and its reconstruction x̂ averaged over
// the batch (taming's mean LPIPS) and, when grad is not null, resizes it to x̂'s shape and WRITES the gradient in x̂.
// `enabled` false marks a policy that computes nothing (the model then skips the call).
template <class P, class T, class B>
concept PerceptualLoss = requires(P& p, const tensor<T, B>& x, tensor<T, B>* grad) {
  { P::enabled } -> std::convertible_to<bool>;
  { p.loss(x, x, grad) } -> std::convertible_to<double>;
};

// No perceptual term (vqgan.py: perceptual_weight 0, LPIPS needing pretrained weights).
struct NoPerceptual {
  static constexpr bool enabled = false;
  template <class T, class B>
  double loss(const tensor<T, B>&, const tensor<T, B>&, tensor<T, B>*) {
    return 0.0;
  }
};

}  // namespace vae
