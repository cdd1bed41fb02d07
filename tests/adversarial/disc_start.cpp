// disc_start_schedule: a fixed step, a fraction of the training, the factor, errors.
#include "vae/adversarial/disc_start.hpp"

#include "../test_support.hpp"

using namespace vae;

TEST_CASE("disc_start_schedule: disc_factor is 0 before the start step and the factor from it on") {
  const auto s = disc_start_schedule::at_step(1500);
  CHECK(s.disc_factor(0) == 0.0);
  CHECK(s.disc_factor(1499) == 0.0);
  CHECK(s.disc_factor(1500) == 1.0);
  CHECK(s.start_step(0) == 1500);
  CHECK(disc_start_schedule::at_step(10, 0.5).disc_factor(10) == 0.5);
  CHECK(disc_start_schedule{}.disc_factor(0) == 1.0);
}

TEST_CASE("disc_start_schedule: a fraction of the training needs the total and rounds down") {
  const auto s = disc_start_schedule::at_fraction(0.8);
  CHECK(s.is_fraction());
  CHECK(s.start_step(1874) == 1499);
  CHECK(s.disc_factor(1498, 1874) == 0.0);
  CHECK(s.disc_factor(1499, 1874) == 1.0);
  CHECK_THROWS_WITH_AS(s.disc_factor(5), doctest::Contains("total number of steps"), vae::error);
  CHECK_THROWS_AS(disc_start_schedule::at_fraction(1.5), vae::error);
  CHECK_THROWS_AS(disc_start_schedule::at_step(-1), vae::error);
  CHECK_THROWS_AS(disc_start_schedule::at_step(0, -1.0), vae::error);
}
