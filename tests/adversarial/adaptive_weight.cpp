// adaptive_weight: taming's formula, its clamp and NaN propagation; gradient_norm. The PyTorch autograd parity of λ
// on a model is in tests/models/vqgan.cpp (the two gradients come from a whole decoder there).
#include "vae/adversarial/adaptive_weight.hpp"

#include <cmath>
#include <limits>

#include "../test_support.hpp"

using namespace vae;

TEST_CASE("adaptive_weight: clamp(‖∇rec‖ / (‖∇gan‖ + 1e-4), 0, 1e4) · disc_weight") {
  CHECK(adaptive_weight(2.0, 1.0) == doctest::Approx(2.0 / (1.0 + 1e-4) * 0.8));
  CHECK(adaptive_weight(2.0, 1.0, {1.0, 1e-4, 1e4}) == doctest::Approx(2.0 / 1.0001));
  CHECK(adaptive_weight(1.0, 0.0) == doctest::Approx(1e4 * 0.8));  // 1 / 1e-4 = 1e4: at the clamp
  CHECK(adaptive_weight(5.0, 0.0) == doctest::Approx(1e4 * 0.8));  // beyond it
  CHECK(adaptive_weight(0.0, 3.0) == 0.0);
  CHECK(std::isnan(adaptive_weight(std::nan(""), 1.0)));
  CHECK_THROWS_AS(adaptive_weight(1.0, 1.0, {0.8, 0.0, 1e4}), vae::error);
  CHECK_THROWS_AS(adaptive_weight(1.0, 1.0, {-0.8, 1e-4, 1e4}), vae::error);
}

TEST_CASE("gradient_norm: the L2 norm in double") {
  tensor<float> g({3});
  g[0] = 3.0f, g[1] = -4.0f, g[2] = 0.0f;
  CHECK(gradient_norm<cpu>(g.data(), 3) == 5.0);
  CHECK(gradient_norm<cpu>(g.data(), 0) == 0.0);
}
