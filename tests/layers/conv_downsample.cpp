// ConvDownsample (taming's Downsample with a conv): finite-difference gradients (double), PyTorch parity (even and
// odd sizes), names, shape errors.
#include "vae/layers/conv_downsample.hpp"

#include "../encoders/stack_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Layer<ConvDownsample<float>>);

TEST_CASE("ConvDownsample gradients match finite differences (double)") {
  ConvDownsample<double> down(3);
  parameter_store<double> store;
  CHECK(test::require_gradients(down, store, {2, 3, 4, 6}, 41) == 2);
  CHECK(down.forward(tensor<double>({2, 3, 4, 6}, 0.5)).shape() == shape{2, 3, 2, 3});
}

TEST_CASE("ConvDownsample matches taming's Downsample in PyTorch (float32)") {
  for (const auto& [name, c] : {std::pair<const char*, std::int64_t>{"vqgan_conv_downsample", 4},
                                std::pair<const char*, std::int64_t>{"vqgan_conv_downsample_odd", 3}}) {
    const auto f = test::golden(name);
    generator rng(0);
    ConvDownsample<float> down(c);
    parameter_store<float> store;
    store.attach(down, rng);
    test::require_stack_parity(down, store, f, name, true);
  }
}

TEST_CASE("ConvDownsample names its convolution conv and rejects bad input") {
  generator rng(42);
  ConvDownsample<float> down(8);
  parameter_store<float> store;
  store.attach(down, rng, "down.0.downsample.");
  test::require_names(store, {{"down.0.downsample.conv.weight", {8, 8, 3, 3}}, {"down.0.downsample.conv.bias", {8}}});
  tensor<float> x({1, 4, 4, 4}, 0.f);
  CHECK_THROWS_WITH_AS(down.forward(x), doctest::Contains("expected input [N, 8, H ≥ 2, W ≥ 2], got [1, 4, 4, 4]"),
                       vae::error);
}
