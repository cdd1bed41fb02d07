// ConvEncoder: finite-difference gradients, PyTorch parity of the whole stack, state_dict names, input layouts.
#include "vae/encoders/conv_encoder.hpp"

#include "stack_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Layer<ConvEncoder<float>>);

TEST_CASE("ConvEncoder gradients match finite differences (double)") {
  generator rng(1);
  ConvEncoder<double> enc(2, 8, 3, 4, 5);
  enc.set_input_gradient(true);
  parameter_store<double> store;
  store.attach(enc, rng);
  auto x = test::random_tensor<double>({2, 2, 8, 8}, rng);
  const auto report = testing::check_layer_gradients(enc, store, x);
  INFO(report.summary());
  CHECK(report.ok);
}

TEST_CASE("ConvEncoder matches the vae_conv.py encoder stack in PyTorch (float32, small size)") {
  const auto f = test::golden("conv_encoder");
  generator rng(0);
  ConvEncoder<float> enc(1, 8, 4, 6, 6);
  enc.set_input_gradient(true);
  parameter_store<float> store;
  store.attach(enc, rng, "enc.");
  test::require_stack_parity(enc, store, f, "ConvEncoder", true);
}

TEST_CASE("ConvEncoder has vae_conv.py's state_dict names and shapes") {
  generator rng(2);
  ConvEncoder<float> enc(1, 28, 32, 64, 64);
  parameter_store<float> store;
  store.attach(enc, rng, "enc.");
  test::require_names(store, {{"enc.0.weight", {32, 1, 4, 4}},
                              {"enc.0.bias", {32}},
                              {"enc.2.weight", {64, 32, 4, 4}},
                              {"enc.2.bias", {64}},
                              {"enc.5.weight", {64, 3136}},
                              {"enc.5.bias", {64}}});
}

TEST_CASE("ConvEncoder takes flattened input, gives the same output, and rejects wrong sizes") {
  generator rng(3);
  ConvEncoder<double> enc(1, 8, 2, 3, 4);
  enc.set_input_gradient(true);
  parameter_store<double> store;
  store.attach(enc, rng);
  auto x = test::random_tensor<double>({3, 1, 8, 8}, rng);
  tensor<double> flat({3, 64});
  std::copy(x.data(), x.data() + x.numel(), flat.data());
  const tensor<double> y4 = enc.forward(x);
  const auto& yf = enc.forward(flat);
  REQUIRE(yf.shape() == shape{3, 4});
  for (std::int64_t i = 0; i < y4.numel(); ++i) CHECK(yf[i] == y4[i]);
  tensor<double> dy({3, 4}, 1.0);
  CHECK(enc.backward(dy).shape() == shape{3, 64});
  tensor<double> bad({3, 1, 12, 12});
  CHECK_THROWS_WITH_AS(enc.forward(bad), doctest::Contains("expected input [N, 1, 8, 8] or [N, 64], got [3, 1, 12, 12]"),
                       vae::error);
  CHECK_THROWS_AS(ConvEncoder<float>(1, 10, 2, 3, 4), vae::error);
}

TEST_CASE("ConvEncoder backward accumulates into parameter gradients") {
  generator rng(11);
  ConvEncoder<double> m(1, 8, 2, 3, 4);
  parameter_store<double> store;
  store.attach(m, rng);
  const auto x = test::random_tensor<double>({2, 1, 8, 8}, rng);
  test::require_accumulates(m, store, x, rng);
}
