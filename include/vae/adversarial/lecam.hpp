// LeCamRegularizer (Yu et al. 2021, "Regularizing GANs under limited data"): pulls real logits towards the moving
// average of fake logits and fake logits towards that of real ones.
#pragma once
#include <cmath>
#include <cstdint>

#include "vae/adversarial/gan_loss.hpp"
#include "vae/core/error.hpp"
#include "vae/core/tensor.hpp"
#include "vae/ops/losses.hpp"

namespace vae {

struct lecam_options {
  double weight = 0.1;   // added to the discriminator loss as weight · R_LC (0 turns it off)
  double decay = 0.99;   // of the moving averages, as the reference implementation
};

// R_LC = mean relu(D(x) − α_F)² + mean relu(α_R − D(x̂))², α_R, α_F the bias-corrected moving averages of the mean
// real and fake logits (constants: no gradient flows into them). The reference (google/lecam-gan) updates the
// averages with the current batch before taking the terms; here the terms use the averages of the steps before
// (update() after both terms), because the discriminator runs its real and fake batches one after the other and
// each term must be complete before the other batch's forward. There is no term before the first update.
template <class T = float, class B = cpu>
class LeCamRegularizer {
 public:
  using value_type = T;
  using backend = B;

  explicit LeCamRegularizer(lecam_options o = {}) : o_(o) {
    check(o.weight >= 0 && o.decay >= 0 && o.decay < 1,
          [&] { return cat("LeCamRegularizer: need weight >= 0 and decay in [0, 1), got ", o.weight, ", ", o.decay); });
  }

  bool active() const { return o_.weight > 0 && updates_ > 0; }
  // weight · mean relu(D(x) − α_F)²; its gradient in the real logits is ADDED to grad (shaped as the logits).
  double real_term(const tensor<T, B>& logits, tensor<T, B>& grad) {
    return term<losses::ExcessSquared>(logits, anchor_fake(), grad);
  }
  // weight · mean relu(α_R − D(x̂))²; its gradient in the fake logits is ADDED to grad.
  double fake_term(const tensor<T, B>& logits, tensor<T, B>& grad) {
    return term<losses::DeficitSquared>(logits, anchor_real(), grad);
  }
  // α ← decay·α + (1 − decay)·mean, for this step's mean real and fake logits.
  void update(double mean_real, double mean_fake) {
    ema_real_ = o_.decay * ema_real_ + (1 - o_.decay) * mean_real;
    ema_fake_ = o_.decay * ema_fake_ + (1 - o_.decay) * mean_fake;
    ++updates_;
  }
  // The bias-corrected averages (zero_debias, as the reference): α / (1 − decayᵗ).
  double anchor_real() const { return debias(ema_real_); }
  double anchor_fake() const { return debias(ema_fake_); }
  std::int64_t updates() const { return updates_; }
  const lecam_options& options() const { return o_; }

 private:
  double debias(double ema) const {
    return updates_ == 0 ? 0.0 : ema / (1.0 - std::pow(o_.decay, static_cast<double>(updates_)));
  }
  template <class Loss>
  double term(const tensor<T, B>& logits, double anchor, tensor<T, B>& grad) {
    if (!active()) return 0.0;
    check_shape(grad.shape(), logits.shape(), "LeCamRegularizer: gradient");
    const auto& t = anchor_.get(logits.shape(), anchor);
    tmp_.resize(logits.shape());
    const double w = o_.weight / static_cast<double>(logits.numel());
    const double v = ops::weighted_elementwise_loss<B>(Loss{}, logits.numel(), logits.data(), t.data(), w, tmp_.data());
    ops::axpy<B>(logits.numel(), 1.0, tmp_.data(), grad.data(), grad.data());
    return v;
  }

  lecam_options o_;
  double ema_real_ = 0, ema_fake_ = 0;
  std::int64_t updates_ = 0;
  detail::constant_tensor<T, B> anchor_;
  tensor<T, B> tmp_;
};

}  // namespace vae
