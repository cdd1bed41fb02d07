// Learning-rate schedules (constant, linear warm-up, cosine with warm-up and floor) as small value types with lr(step).
#pragma once
#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <numbers>
#include <string_view>
#include <type_traits>
#include <variant>

#include "vae/core/error.hpp"

namespace vae {

// LrSchedule: lr(step) is the learning rate for optimizer step `step`, counted from 0 (the first step).
template <class S>
concept LrSchedule = requires(const S& s, std::int64_t step) {
  { s.lr(step) } -> std::convertible_to<double>;
};

// The same rate at every step.
struct ConstantLR {
  double base_lr = 1e-3;

  double lr(std::int64_t) const { return base_lr; }
};

// Linear warm-up, then constant: base_lr·(step + 1)/warmup_steps for step < warmup_steps, base_lr afterwards.
// The first step already moves (base_lr / warmup_steps) and step warmup_steps − 1 reaches base_lr.
struct WarmupLR {
  double base_lr = 1e-3;
  std::int64_t warmup_steps = 0;

  double lr(std::int64_t step) const {
    if (step >= warmup_steps) return base_lr;
    return base_lr * static_cast<double>(std::max<std::int64_t>(step, 0) + 1) / static_cast<double>(warmup_steps);
  }
};

// Optional linear warm-up (as WarmupLR), then cosine decay from base_lr to min_lr over the remaining
// total_steps − warmup_steps steps (torch CosineAnnealingLR's closed form with T_max = that count and
// eta_min = min_lr); min_lr from step total_steps on.
struct CosineLR {
  double base_lr = 1e-3;
  std::int64_t total_steps = 1;
  std::int64_t warmup_steps = 0;
  double min_lr = 0.0;

  double lr(std::int64_t step) const {
    if (step < warmup_steps) return WarmupLR{base_lr, warmup_steps}.lr(step);
    const auto decay_steps = std::max<std::int64_t>(total_steps - warmup_steps, 1);
    const double progress = std::min(1.0, static_cast<double>(step - warmup_steps) / static_cast<double>(decay_steps));
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + std::cos(std::numbers::pi * progress));
  }
};

// A schedule chosen at run time (from a config file).
using AnyLR = std::variant<ConstantLR, WarmupLR, CosineLR>;

// The schedule a config names: decay "none" (linear warm-up, then constant) or "cosine" (warm-up, then cosine to 0
// at total_steps); any other name is refused.
inline AnyLR lr_schedule_named(std::string_view decay, double base_lr, std::int64_t total_steps,
                               std::int64_t warmup_steps) {
  check(decay == "none" || decay == "cosine",
        [&] { return cat("lr schedule: decay must be none or cosine, got '", decay, "'"); });
  if (decay == "cosine") return CosineLR{.base_lr = base_lr, .total_steps = total_steps, .warmup_steps = warmup_steps};
  return WarmupLR{.base_lr = base_lr, .warmup_steps = warmup_steps};
}

inline double lr_at(const AnyLR& schedule, std::int64_t step) {
  return std::visit([&](const auto& s) { return s.lr(step); }, schedule);
}

// Checks a schedule's settings, with a message naming the bad one.
inline void validate(const AnyLR& schedule) {
  std::visit(
      [](const auto& s) {
        check(s.base_lr >= 0, [&] { return cat("lr schedule: base_lr must be >= 0, got ", s.base_lr); });
        using S = std::decay_t<decltype(s)>;
        if constexpr (std::same_as<S, WarmupLR> || std::same_as<S, CosineLR>)
          check(s.warmup_steps >= 0, [&] { return cat("lr schedule: warmup_steps must be >= 0, got ", s.warmup_steps); });
        if constexpr (std::same_as<S, CosineLR>) {
          check(s.total_steps > s.warmup_steps, [&] {
            return cat("CosineLR: total_steps (", s.total_steps, ") must exceed warmup_steps (", s.warmup_steps, ")");
          });
          check(s.min_lr >= 0 && s.min_lr <= s.base_lr,
                [&] { return cat("CosineLR: min_lr must be in [0, base_lr = ", s.base_lr, "], got ", s.min_lr); });
        }
      },
      schedule);
}

// Sets the optimizer's rate for the step it is about to take: apply_lr(opt, schedule, opt.step_count()).
template <class Opt, LrSchedule S>
void apply_lr(Opt& optimizer, const S& schedule, std::int64_t step) {
  optimizer.set_lr(schedule.lr(step));
}
template <class Opt>
void apply_lr(Opt& optimizer, const AnyLR& schedule, std::int64_t step) {
  optimizer.set_lr(lr_at(schedule, step));
}

}  // namespace vae
