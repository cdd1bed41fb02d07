// AvgPool2d: finite-difference gradients (kernel/stride/padding), PyTorch parity, shape errors.
#include "vae/layers/avg_pool2d.hpp"

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

TEST_CASE("AvgPool2d gradients match finite differences (double)") {
  struct cfg {
    std::int64_t k, s, p;
  };
  for (const auto c : {cfg{2, 2, 0}, cfg{3, 2, 0}, cfg{3, 1, 1}, cfg{2, 3, 1}}) {
    CAPTURE(c.k);
    CAPTURE(c.s);
    CAPTURE(c.p);
    generator rng(static_cast<std::uint64_t>(c.k * 10 + c.s));
    AvgPool2d<double> layer(c.k, c.s, c.p);
    parameter_store<double> store;
    store.attach(layer, rng);
    auto x = test::random_tensor<double>({2, 2, 5, 6}, rng);
    const auto report = testing::check_layer_gradients(layer, store, x);
    INFO(report.summary());
    CHECK(report.ok);
    CHECK(report.checked == std::min<std::int64_t>(x.numel(), 96));
  }
}

TEST_CASE("AvgPool2d matches PyTorch nn.AvgPool2d(3, stride=2) (float32)") {
  const auto f = test::golden("avg_pool2d");
  AvgPool2d<float> layer(3, 2);
  const auto x = f.at("x").to_tensor<float>();
  const auto r = f.at("r").to_tensor<float>();
  test::require_parity(layer.forward(x), f, "y", "AvgPool2d forward");
  test::require_parity(layer.backward(r), f, "dx", "AvgPool2d dx");
}

TEST_CASE("AvgPool2d rejects bad shapes and sizes") {
  AvgPool2d<float> layer(3, 2);
  tensor<float> flat({2, 12}, 0.f);
  CHECK_THROWS_WITH_AS(layer.forward(flat), doctest::Contains("expected input [N, C, H, W], got [2, 12]"), vae::error);
  tensor<float> tiny({1, 1, 2, 5}, 0.f);
  CHECK_THROWS_WITH_AS(layer.forward(tiny), doctest::Contains("smaller than the kernel"), vae::error);
  CHECK_THROWS_AS(AvgPool2d<float>(2, 1, 2), vae::error);
}
