// Downsample (2×2 average pool, stride 2): finite-difference gradients, PyTorch parity, shape errors.
#include "vae/layers/downsample.hpp"

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

TEST_CASE("Downsample gradients match finite differences (double), odd sizes drop the last row/column") {
  generator rng(1);
  Downsample<double> layer;
  parameter_store<double> store;
  store.attach(layer, rng);
  auto x = test::random_tensor<double>({2, 3, 5, 4}, rng);
  CHECK(layer.forward(x).shape() == shape{2, 3, 2, 2});
  const auto report = testing::check_layer_gradients(layer, store, x);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == test::layer_checks(x, store));
}

TEST_CASE("Downsample matches PyTorch nn.AvgPool2d(2, 2) (float32)") {
  const auto f = test::golden("downsample");
  Downsample<float> layer;
  const auto x = f.at("x").to_tensor<float>();
  const auto r = f.at("r").to_tensor<float>();
  test::require_parity(layer.forward(x), f, "y", "Downsample forward");
  test::require_parity(layer.backward(r), f, "dx", "Downsample dx");
}

TEST_CASE("Downsample rejects a non-NCHW input") {
  Downsample<float> layer;
  tensor<float> x({4, 4}, 0.f);
  CHECK_THROWS_WITH_AS(layer.forward(x), doctest::Contains("expected input [N, C, H, W], got [4, 4]"), vae::error);
}
