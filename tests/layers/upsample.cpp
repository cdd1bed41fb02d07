// Upsample (nearest): finite-difference gradients, PyTorch parity, shape errors.
#include "vae/layers/upsample.hpp"

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

TEST_CASE("Upsample gradients match finite differences (double)") {
  for (const std::int64_t s : {1, 2, 3}) {
    CAPTURE(s);
    generator rng(static_cast<std::uint64_t>(s));
    Upsample<double> layer(s);
    parameter_store<double> store;
    store.attach(layer, rng);
    auto x = test::random_tensor<double>({2, 2, 3, 2}, rng);
    CHECK(layer.forward(x).shape() == shape{2, 2, 3 * s, 2 * s});
    const auto report = testing::check_layer_gradients(layer, store, x);
    INFO(report.summary());
    CHECK(report.ok);
    CHECK(report.checked == x.numel());
  }
}

TEST_CASE("Upsample matches PyTorch nn.Upsample(scale_factor=2, mode='nearest') (float32)") {
  const auto f = test::golden("upsample");
  Upsample<float> layer(2);
  const auto x = f.at("x").to_tensor<float>();
  const auto r = f.at("r").to_tensor<float>();
  // Nearest upsampling copies values; its backward sums each 2x2 block of r, and PyTorch's sums agree with it bit for
  // bit: compared for equality, not closeness.
  test::require_parity(layer.forward(x), f, "y", "Upsample forward", 0.0, 0.0);
  test::require_parity(layer.backward(r), f, "dx", "Upsample dx", 0.0, 0.0);
}

TEST_CASE("Upsample rejects bad shapes") {
  Upsample<float> layer(2);
  tensor<float> x({2, 12}, 0.f);
  CHECK_THROWS_WITH_AS(layer.forward(x), doctest::Contains("expected input [N, C, H, W], got [2, 12]"), vae::error);
  CHECK_THROWS_AS(Upsample<float>(0), vae::error);
  tensor<float> ok({1, 1, 2, 2}, 0.f), dy({1, 1, 3, 3}, 0.f);
  layer.forward(ok);
  CHECK_THROWS_AS(layer.backward(dy), vae::error);
}
