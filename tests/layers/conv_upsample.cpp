// ConvUpsample (taming's Upsample with a conv): finite-difference gradients (double), PyTorch parity, names, errors.
#include "vae/layers/conv_upsample.hpp"

#include "../encoders/stack_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Layer<ConvUpsample<float>>);

TEST_CASE("ConvUpsample gradients match finite differences (double)") {
  ConvUpsample<double> up(3);
  parameter_store<double> store;
  CHECK(test::require_gradients(up, store, {2, 3, 2, 3}, 51) == 2);
  CHECK(up.forward(tensor<double>({2, 3, 2, 3}, 0.5)).shape() == shape{2, 3, 4, 6});
}

TEST_CASE("ConvUpsample matches taming's Upsample in PyTorch (float32)") {
  const auto f = test::golden("vqgan_conv_upsample");
  generator rng(0);
  ConvUpsample<float> up(4);
  parameter_store<float> store;
  store.attach(up, rng);
  test::require_stack_parity(up, store, f, "ConvUpsample", true);
}

TEST_CASE("ConvUpsample names its convolution conv and rejects bad input") {
  generator rng(52);
  ConvUpsample<float> up(8);
  parameter_store<float> store;
  store.attach(up, rng, "up.1.upsample.");
  test::require_names(store, {{"up.1.upsample.conv.weight", {8, 8, 3, 3}}, {"up.1.upsample.conv.bias", {8}}});
  tensor<float> x({1, 4, 4, 4}, 0.f);
  CHECK_THROWS_WITH_AS(up.forward(x), doctest::Contains("expected input [N, 8, H, W], got [1, 4, 4, 4]"), vae::error);
}
