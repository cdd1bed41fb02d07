// disc_start_schedule: when the adversarial terms switch on, as a step or as a fraction of the training (taming's
// disc_start with adopt_weight).
#pragma once
#include <cmath>
#include <cstdint>

#include "vae/core/error.hpp"

namespace vae {

// disc_factor(step) = 0 before the start step and `factor` from it on (taming's adopt_weight: weight 0 while
// global_step < disc_start). The start is either a fixed step or a fraction of the total number of training steps,
// rounded down (a fraction needs the total, known once the data and epochs are).
class disc_start_schedule {
 public:
  disc_start_schedule() = default;  // step 0: on from the start
  static disc_start_schedule at_step(std::int64_t step, double factor = 1.0) {
    check(step >= 0, [&] { return cat("disc_start: the start step must be >= 0, got ", step); });
    return disc_start_schedule(step, -1.0, factor);
  }
  static disc_start_schedule at_fraction(double fraction, double factor = 1.0) {
    check(fraction >= 0 && fraction <= 1,
          [&] { return cat("disc_start: the start fraction must be in [0, 1], got ", fraction); });
    return disc_start_schedule(0, fraction, factor);
  }

  bool is_fraction() const { return fraction_ >= 0; }
  double factor() const { return factor_; }

  // The first step with the discriminator on, for a training of total_steps steps (ignored by a fixed step).
  std::int64_t start_step(std::int64_t total_steps) const {
    if (!is_fraction()) return step_;
    check(total_steps > 0, [&] {
      return cat("disc_start: a start at fraction ", fraction_, " of the training needs the total number of steps, got ",
                 total_steps);
    });
    return static_cast<std::int64_t>(std::floor(fraction_ * static_cast<double>(total_steps)));
  }
  double disc_factor(std::int64_t step, std::int64_t total_steps = 0) const {
    return step < start_step(total_steps) ? 0.0 : factor_;
  }

 private:
  disc_start_schedule(std::int64_t step, double fraction, double factor)
      : step_(step), fraction_(fraction), factor_(factor) {
    check(factor >= 0 && std::isfinite(factor), [&] { return cat("disc_start: disc_factor must be >= 0, got ", factor); });
  }
  std::int64_t step_ = 0;
  double fraction_ = -1.0;  // < 0: a fixed step
  double factor_ = 1.0;
};

}  // namespace vae
