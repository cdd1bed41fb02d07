// ResNetEncoder: finite-difference gradients (ReLU; SiLU + GroupNorm; 3 downsamplings), PyTorch parity of the
// whole stack, vqvae.py's state_dict names, shape errors.
#include "vae/encoders/resnet_encoder.hpp"

#include "stack_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Layer<ResNetEncoder<float>>);

namespace {
void check_grads(const resnet_encoder_options& o, shape x_shape, std::uint64_t seed) {
  generator rng(seed);
  ResNetEncoder<double> enc(o);
  enc.set_input_gradient(true);
  parameter_store<double> store;
  store.attach(enc, rng);
  auto x = test::random_tensor<double>(x_shape, rng);
  const auto report = testing::check_layer_gradients(enc, store, x);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == test::layer_checks(x, store));
}
}  // namespace

TEST_CASE("ResNetEncoder gradients match finite differences (double)") {
  SUBCASE("vqvae.py layout, small") { check_grads({1, 4, 2, 2, 2, 3}, {2, 1, 8, 8}, 1); }
  SUBCASE("SiLU + GroupNorm, 3 downsamplings, 1 block") {
    check_grads({2, 4, 2, 1, 3, 2, 2, conv_activation::silu}, {1, 2, 8, 8}, 2);
  }
}

TEST_CASE("ResNetEncoder matches vqvae.py's encoder stack in PyTorch (float32, small size)") {
  const auto f = test::golden("resnet_encoder");
  generator rng(0);
  ResNetEncoder<float> enc({1, 8, 4, 2, 2, 3});
  enc.set_input_gradient(true);
  parameter_store<float> store;
  store.attach(enc, rng, "enc.");
  test::require_stack_parity(enc, store, f, "ResNetEncoder", true);
}

TEST_CASE("ResNetEncoder has vqvae.py's state_dict names and shapes (default options)") {
  generator rng(3);
  ResNetEncoder<float> enc;
  parameter_store<float> store;
  store.attach(enc, rng, "enc.");
  test::require_names(store, {{"enc.0.weight", {64, 1, 4, 4}},      {"enc.0.bias", {64}},
                              {"enc.2.weight", {128, 64, 4, 4}},    {"enc.2.bias", {128}},
                              {"enc.4.c1.weight", {32, 128, 3, 3}}, {"enc.4.c1.bias", {32}},
                              {"enc.4.c2.weight", {128, 32, 1, 1}}, {"enc.4.c2.bias", {128}},
                              {"enc.5.c1.weight", {32, 128, 3, 3}}, {"enc.5.c1.bias", {32}},
                              {"enc.5.c2.weight", {128, 32, 1, 1}}, {"enc.5.c2.bias", {128}},
                              {"enc.7.weight", {64, 128, 1, 1}},    {"enc.7.bias", {64}}});
  tensor<float> x({2, 1, 28, 28}, 0.5f);
  CHECK(enc.forward(x).shape() == shape{2, 64, 7, 7});
}

TEST_CASE("ResNetEncoder rejects bad shapes and options") {
  generator rng(4);
  ResNetEncoder<float> enc({1, 4, 2, 1, 2, 3});
  parameter_store<float> store;
  store.attach(enc, rng);
  tensor<float> x({2, 3, 8, 8}, 0.f);
  CHECK_THROWS_WITH_AS(enc.forward(x), doctest::Contains("expected input [N, 1, H, W], got [2, 3, 8, 8]"),
                       vae::error);
  CHECK_THROWS_AS(ResNetEncoder<float>({1, 6, 2, 1, 3, 3}), vae::error);  // 6 not divisible by 4
}

TEST_CASE("ResNetEncoder backward accumulates into parameter gradients") {
  generator rng(11);
  ResNetEncoder<double> m({1, 4, 2, 2, 2, 3});
  parameter_store<double> store;
  store.attach(m, rng);
  const auto x = test::random_tensor<double>({2, 1, 8, 8}, rng);
  test::require_accumulates(m, store, x, rng);
}
