// ConvDecoder: finite-difference gradients, PyTorch parity of the whole stack, state_dict names, shape errors.
#include "vae/decoders/conv_decoder.hpp"

#include "../encoders/stack_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Layer<ConvDecoder<float>>);

TEST_CASE("ConvDecoder gradients match finite differences (double)") {
  generator rng(1);
  ConvDecoder<double> dec(3, 8, 4, 3, 2);
  parameter_store<double> store;
  store.attach(dec, rng);
  auto z = test::random_tensor<double>({2, 3}, rng);
  CHECK(dec.forward(z).shape() == shape{2, 2, 8, 8});
  const auto report = testing::check_layer_gradients(dec, store, z);
  INFO(report.summary());
  CHECK(report.ok);
}

TEST_CASE("ConvDecoder matches vae_conv.py's fc + dec in PyTorch (float32, small size)") {
  const auto f = test::golden("conv_decoder");
  generator rng(0);
  ConvDecoder<float> dec(3, 8, 6, 4, 1);
  parameter_store<float> store;
  store.attach(dec, rng);
  test::require_stack_parity(dec, store, f, "ConvDecoder", true);
}

TEST_CASE("ConvDecoder has vae_conv.py's state_dict names and shapes (relative to the model)") {
  generator rng(2);
  ConvDecoder<float> dec(32, 28, 64, 32, 1);
  parameter_store<float> store;
  store.attach(dec, rng);
  test::require_names(store, {{"fc.weight", {3136, 32}},
                              {"fc.bias", {3136}},
                              {"dec.0.weight", {64, 32, 4, 4}},
                              {"dec.0.bias", {32}},
                              {"dec.2.weight", {32, 1, 4, 4}},
                              {"dec.2.bias", {1}}});
}

TEST_CASE("ConvDecoder rejects a wrong latent size") {
  generator rng(3);
  ConvDecoder<float> dec(3, 8, 4, 3, 1);
  parameter_store<float> store;
  store.attach(dec, rng);
  tensor<float> z({2, 4}, 0.f);
  CHECK_THROWS_WITH_AS(dec.forward(z), doctest::Contains("expected input [N, 3], got [2, 4]"), vae::error);
}

TEST_CASE("ConvDecoder backward accumulates into parameter gradients") {
  generator rng(11);
  ConvDecoder<double> m(3, 8, 4, 3, 1);
  parameter_store<double> store;
  store.attach(m, rng);
  const auto x = test::random_tensor<double>({2, 3}, rng);
  test::require_accumulates(m, store, x, rng);
}
