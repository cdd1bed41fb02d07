// ResNetDecoder: finite-difference gradients (ReLU; SiLU + GroupNorm; 3 upsamplings), PyTorch parity of the
// whole stack, vqvae.py's state_dict names, shape errors.
#include "vae/decoders/resnet_decoder.hpp"

#include "../encoders/stack_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Layer<ResNetDecoder<float>>);

namespace {
void check_grads(const resnet_decoder_options& o, shape z_shape, std::uint64_t seed) {
  generator rng(seed);
  ResNetDecoder<double> dec(o);
  parameter_store<double> store;
  store.attach(dec, rng);
  auto z = test::random_tensor<double>(z_shape, rng);
  const auto report = testing::check_layer_gradients(dec, store, z);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == test::layer_checks(z, store));
}
}  // namespace

TEST_CASE("ResNetDecoder gradients match finite differences (double)") {
  SUBCASE("vqvae.py layout, small") { check_grads({3, 4, 2, 2, 2, 1}, {2, 3, 2, 2}, 1); }
  SUBCASE("SiLU + GroupNorm, 3 upsamplings, 1 block") {
    check_grads({2, 4, 2, 1, 3, 2, 2, conv_activation::silu}, {1, 2, 1, 2}, 2);
  }
}

TEST_CASE("ResNetDecoder matches vqvae.py's decoder stack in PyTorch (float32, small size)") {
  const auto f = test::golden("resnet_decoder");
  generator rng(0);
  ResNetDecoder<float> dec({3, 8, 4, 2, 2, 1});
  parameter_store<float> store;
  store.attach(dec, rng, "dec.");
  test::require_stack_parity(dec, store, f, "ResNetDecoder", true);
}

TEST_CASE("ResNetDecoder has vqvae.py's state_dict names and shapes (default options)") {
  generator rng(3);
  ResNetDecoder<float> dec;
  parameter_store<float> store;
  store.attach(dec, rng, "dec.");
  test::require_names(store, {{"dec.0.weight", {128, 64, 1, 1}},    {"dec.0.bias", {128}},
                              {"dec.1.c1.weight", {32, 128, 3, 3}}, {"dec.1.c1.bias", {32}},
                              {"dec.1.c2.weight", {128, 32, 1, 1}}, {"dec.1.c2.bias", {128}},
                              {"dec.2.c1.weight", {32, 128, 3, 3}}, {"dec.2.c1.bias", {32}},
                              {"dec.2.c2.weight", {128, 32, 1, 1}}, {"dec.2.c2.bias", {128}},
                              {"dec.4.weight", {128, 64, 4, 4}},    {"dec.4.bias", {64}},
                              {"dec.6.weight", {64, 1, 4, 4}},      {"dec.6.bias", {1}}});
  tensor<float> z({2, 64, 7, 7}, 0.5f);
  CHECK(dec.forward(z).shape() == shape{2, 1, 28, 28});
}

TEST_CASE("ResNetDecoder rejects bad shapes") {
  generator rng(4);
  ResNetDecoder<float> dec({3, 4, 2, 1, 2, 1});
  parameter_store<float> store;
  store.attach(dec, rng);
  tensor<float> z({2, 4, 2, 2}, 0.f);
  CHECK_THROWS_WITH_AS(dec.forward(z), doctest::Contains("expected input [N, 3, h, w], got [2, 4, 2, 2]"),
                       vae::error);
}

TEST_CASE("ResNetDecoder backward accumulates into parameter gradients") {
  generator rng(11);
  ResNetDecoder<double> m({3, 4, 2, 2, 2, 1});
  parameter_store<double> store;
  store.attach(m, rng);
  const auto x = test::random_tensor<double>({2, 3, 2, 2}, rng);
  test::require_accumulates(m, store, x, rng);
}
