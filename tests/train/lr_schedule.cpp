// Learning-rate schedules: values at the key steps (start, end of warm-up, middle and end of the cosine, past the end).
#include "vae/train/lr_schedule.hpp"

#include <doctest/doctest.h>

#include <cmath>

#include "vae/train/sgd.hpp"

using namespace vae;

TEST_CASE("ConstantLR") {
  static_assert(LrSchedule<ConstantLR>);
  const ConstantLR s{3e-4};
  CHECK(s.lr(0) == 3e-4);
  CHECK(s.lr(1000000) == 3e-4);
}

TEST_CASE("WarmupLR rises linearly over warmup_steps, then stays at base_lr") {
  const WarmupLR s{1e-3, 10};
  CHECK(s.lr(0) == doctest::Approx(1e-4));
  CHECK(s.lr(4) == doctest::Approx(5e-4));
  CHECK(s.lr(9) == 1e-3);
  CHECK(s.lr(10) == 1e-3);
  CHECK(s.lr(500) == 1e-3);
  CHECK(WarmupLR{1e-3, 0}.lr(0) == 1e-3);  // no warm-up
}

TEST_CASE("CosineLR without warm-up follows CosineAnnealingLR's closed form") {
  const CosineLR s{1.0, 100, 0, 0.1};
  CHECK(s.lr(0) == 1.0);
  CHECK(s.lr(50) == doctest::Approx(0.55).epsilon(1e-15));  // half way: (base + min) / 2
  CHECK(s.lr(25) == doctest::Approx(0.1 + 0.45 * (1 + std::cos(M_PI / 4))).epsilon(1e-15));
  CHECK(s.lr(100) == doctest::Approx(0.1).epsilon(1e-15));
  CHECK(s.lr(1000) == doctest::Approx(0.1).epsilon(1e-15));  // stays at the floor
}

TEST_CASE("CosineLR with warm-up: linear to base_lr, then the cosine over the remaining steps") {
  const CosineLR s{2e-3, 110, 10, 0.0};
  CHECK(s.lr(0) == doctest::Approx(2e-4));
  CHECK(s.lr(9) == doctest::Approx(2e-3));
  CHECK(s.lr(10) == 2e-3);                               // the cosine starts at its top
  CHECK(s.lr(60) == doctest::Approx(1e-3).epsilon(1e-15));  // 50 of 100 decay steps
  CHECK(s.lr(110) == doctest::Approx(0.0));
}

TEST_CASE("AnyLR picks a schedule at run time, validates it, and drives an optimizer's set_lr") {
  AnyLR s = CosineLR{1e-2, 20, 5, 1e-3};
  validate(s);
  CHECK(lr_at(s, 4) == doctest::Approx(1e-2));
  SGD<float> opt({.lr = 1.0});
  apply_lr(opt, s, 0);
  CHECK(opt.lr() == doctest::Approx(2e-3));
  apply_lr(opt, WarmupLR{1.0, 4}, 1);
  CHECK(opt.lr() == doctest::Approx(0.5));
  CHECK_THROWS_WITH_AS(validate(AnyLR{CosineLR{1e-2, 5, 5, 0.0}}),
                       doctest::Contains("CosineLR: total_steps (5) must exceed warmup_steps (5)"), vae::error);
  CHECK_THROWS_WITH_AS(validate(AnyLR{CosineLR{1e-2, 50, 5, 0.1}}), doctest::Contains("min_lr must be in [0, base_lr"),
                       vae::error);
  CHECK_THROWS_WITH_AS(validate(AnyLR{WarmupLR{1e-2, -1}}), doctest::Contains("warmup_steps must be >= 0, got -1"),
                       vae::error);
}

TEST_CASE("lr_schedule_named: none is warm-up then constant, cosine decays to 0 at total_steps, others refused") {
  const auto none = lr_schedule_named("none", 1e-3, 10, 2);
  CHECK(std::holds_alternative<WarmupLR>(none));
  CHECK(lr_at(none, 0) == doctest::Approx(5e-4));
  CHECK(lr_at(none, 9) == doctest::Approx(1e-3));
  const auto cosine = lr_schedule_named("cosine", 1e-3, 10, 2);
  CHECK(std::holds_alternative<CosineLR>(cosine));
  CHECK(lr_at(cosine, 1) == doctest::Approx(1e-3));
  CHECK(lr_at(cosine, 10) == doctest::Approx(0.0));
  CHECK_THROWS_WITH_AS(lr_schedule_named("linear", 1e-3, 10, 0), doctest::Contains("none or cosine, got 'linear'"),
                       vae::error);
}
