// MaxPool2d: finite-difference gradients (kernel/stride/padding), PyTorch parity (with exact ties), shape errors.
#include "vae/layers/max_pool2d.hpp"

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

TEST_CASE("MaxPool2d gradients match finite differences (double)") {
  struct cfg {
    std::int64_t k, s, p;
  };
  // Random normal inputs have no ties, so every window's maximum is strict and differentiable.
  for (const auto c : {cfg{2, 2, 0}, cfg{3, 2, 0}, cfg{3, 1, 1}, cfg{2, 3, 1}}) {
    CAPTURE(c.k);
    CAPTURE(c.s);
    CAPTURE(c.p);
    generator rng(static_cast<std::uint64_t>(c.k * 10 + c.s + 7));
    MaxPool2d<double> layer(c.k, c.s, c.p);
    parameter_store<double> store;
    store.attach(layer, rng);
    auto x = test::random_tensor<double>({2, 2, 5, 6}, rng);
    const auto report = testing::check_layer_gradients(layer, store, x);
    INFO(report.summary());
    CHECK(report.ok);
    CHECK(report.checked == std::min<std::int64_t>(x.numel(), 96));
  }
}

// Exact: a max and a scatter of dy copy values, so forward and dx compare with equality. The fixture's second
// input is integer-valued with ties (PyTorch gives the first maximum the gradient) and an overlapping window.
TEST_CASE("MaxPool2d matches PyTorch nn.MaxPool2d (float32, exact)") {
  const auto f = test::golden("max_pool2d");
  {
    MaxPool2d<float> layer(2, 2);
    test::require_parity(layer.forward(f.at("x").to_tensor<float>()), f, "y", "MaxPool2d(2) forward", 0, 0);
    test::require_parity(layer.backward(f.at("r").to_tensor<float>()), f, "dx", "MaxPool2d(2) dx", 0, 0);
  }
  {
    MaxPool2d<float> layer(3, 2, 1);
    test::require_parity(layer.forward(f.at("x_ties").to_tensor<float>()), f, "y_ties", "MaxPool2d(3,2,1) forward", 0, 0);
    test::require_parity(layer.backward(f.at("r_ties").to_tensor<float>()), f, "dx_ties", "MaxPool2d(3,2,1) dx", 0, 0);
  }
}

TEST_CASE("MaxPool2d rejects bad shapes and sizes") {
  MaxPool2d<float> layer(3, 2);
  tensor<float> flat({2, 12}, 0.f);
  CHECK_THROWS_WITH_AS(layer.forward(flat), doctest::Contains("expected input [N, C, H, W], got [2, 12]"), vae::error);
  tensor<float> tiny({1, 1, 2, 5}, 0.f);
  CHECK_THROWS_WITH_AS(layer.forward(tiny), doctest::Contains("smaller than the kernel"), vae::error);
  CHECK_THROWS_AS(MaxPool2d<float>(2, 1, 2), vae::error);
  CHECK_THROWS_WITH_AS(layer.backward(flat), doctest::Contains("before forward"), vae::error);
}
