// ResBlock: finite-difference gradients (ReLU; SiLU + GroupNorm), accumulation, names, shape errors.
#include "vae/layers/res_block.hpp"

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Layer<ResBlock<float>>);

TEST_CASE("ResBlock gradients match finite differences (double)") {
  SUBCASE("ReLU, no norm (vqvae.py's Res)") {
    generator rng(1);
    ResBlock<double> block(3, 2);
    parameter_store<double> store;
    store.attach(block, rng);
    auto x = test::random_tensor<double>({2, 3, 4, 3}, rng);
    const auto report = testing::check_layer_gradients(block, store, x);
    INFO(report.summary());
    CHECK(report.ok);
    CHECK(report.checked == test::layer_checks(x, store));
  }
  SUBCASE("ReLU, no norm, channels-last activations") {
    generator rng(4);
    ResBlock<double> block(3, 2);
    parameter_store<double> store;
    store.attach(block, rng);
    auto x = test::random_tensor<double>({2, 4, 3, 3}, rng);  // [N, H, W, C]
    x.set_format(memory_format::channels_last);
    CHECK(block.forward(x).format() == memory_format::channels_last);
    const auto report = testing::check_layer_gradients(block, store, x);
    INFO(report.summary());
    CHECK(report.ok);
    CHECK(report.checked == test::layer_checks(x, store));
  }
  SUBCASE("SiLU with GroupNorm") {
    generator rng(2);
    ResBlock<double> block(res_block_options{4, 4, 2, conv_activation::silu});
    parameter_store<double> store;
    store.attach(block, rng);
    auto x = test::random_tensor<double>({2, 4, 3, 3}, rng);
    const auto report = testing::check_layer_gradients(block, store, x);
    INFO(report.summary());
    CHECK(report.ok);
    CHECK(report.checked == test::layer_checks(x, store));
    CHECK(store.entries().size() == 8);
  }
}

TEST_CASE("ResBlock backward accumulates into parameter gradients") {
  generator rng(3);
  ResBlock<double> block(3, 2);
  parameter_store<double> store;
  store.attach(block, rng);
  auto x = test::random_tensor<double>({2, 3, 3, 3}, rng);
  auto dy = test::random_tensor<double>({2, 3, 3, 3}, rng);
  store.zero_grad();
  block.forward(x);
  block.backward(dy);
  const std::vector<double> once(store.grads(), store.grads() + store.size());
  block.backward(dy);
  for (std::int64_t i = 0; i < store.size(); ++i) CHECK(store.grads()[i] == doctest::Approx(2 * once[i]));
}

TEST_CASE("ResBlock names its convolutions c1, c2 (and norms norm1, norm2)") {
  generator rng(4);
  ResBlock<float> plain(128, 32);
  parameter_store<float> store;
  store.attach(plain, rng, "enc.4.");
  REQUIRE(store.entries().size() == 4);
  CHECK(store.entries()[0].name == "enc.4.c1.weight");
  CHECK(store.entries()[0].shape == shape{32, 128, 3, 3});
  CHECK(store.entries()[1].name == "enc.4.c1.bias");
  CHECK(store.entries()[2].name == "enc.4.c2.weight");
  CHECK(store.entries()[2].shape == shape{128, 32, 1, 1});
  CHECK(store.entries()[3].name == "enc.4.c2.bias");
  ResBlock<float> normed(res_block_options{8, 4, 2, conv_activation::relu});
  parameter_store<float> s2;
  s2.attach(normed, rng);
  REQUIRE(s2.entries().size() == 8);
  CHECK(s2.entries()[0].name == "norm1.weight");
  CHECK(s2.entries()[4].name == "norm2.weight");
}

TEST_CASE("ResBlock rejects a wrong channel count") {
  generator rng(5);
  ResBlock<float> block(4, 2);
  parameter_store<float> store;
  store.attach(block, rng);
  tensor<float> x({1, 3, 4, 4}, 0.f);
  CHECK_THROWS_WITH_AS(block.forward(x), doctest::Contains("expected input [N, 4, H, W], got [1, 3, 4, 4]"),
                       vae::error);
}

TEST_CASE("ResBlock keeps GroupNorm blocks channels_first") {
  generator rng(6);
  ResBlock<float> normed(res_block_options{8, 4, 2, conv_activation::relu});
  parameter_store<float> store;
  store.attach(normed, rng);
  tensor<float> x({1, 4, 4, 8}, 0.f);
  x.set_format(memory_format::channels_last);
  CHECK_THROWS_WITH_AS(normed.forward(x), doctest::Contains("GroupNorm"), vae::error);
}
