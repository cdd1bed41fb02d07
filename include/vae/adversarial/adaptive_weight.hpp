// The adaptive weight of the adversarial term (Esser et al. 2021, taming's calculate_adaptive_weight): the ratio of
// the reconstruction and GAN gradient norms at the decoder's last layer.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "vae/core/error.hpp"
#include "vae/core/tensor.hpp"
#include "vae/ops/axpy.hpp"

namespace vae {

// λ = clamp(‖∇_{W_L} L_rec‖ / (‖∇_{W_L} L_gan‖ + eps), 0, max) · disc_weight, as taming (eps 1e-4, max 1e4,
// disc_weight 0.8 in vqgan.py). λ is a constant of the step: no gradient flows through it.
struct adaptive_weight_options {
  double disc_weight = 0.8;
  double eps = 1e-4;
  double max = 1e4;
};

// λ from the two gradient norms. A NaN norm gives NaN (as torch.clamp): the caller's finite check names it.
inline double adaptive_weight(double rec_grad_norm, double gan_grad_norm, const adaptive_weight_options& o = {}) {
  check(o.eps > 0 && o.max >= 0 && o.disc_weight >= 0, [&] {
    return cat("adaptive_weight: need eps > 0, max >= 0 and disc_weight >= 0, got eps=", o.eps, " max=", o.max,
               " disc_weight=", o.disc_weight);
  });
  const double r = rec_grad_norm / (gan_grad_norm + o.eps);
  if (std::isnan(r)) return r;
  return std::clamp(r, 0.0, o.max) * o.disc_weight;
}

// ‖g‖ of n gradient elements in backend memory, accumulated in double.
template <class B, class T>
double gradient_norm(const T* g, std::int64_t n) {
  return std::sqrt(ops::dot<B>(n, g, g));
}

}  // namespace vae
