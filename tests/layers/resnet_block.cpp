// ResnetBlock (taming's): finite-difference gradients (double) with and without nin_shortcut and with frozen
// dropout, PyTorch parity (forward, dx, every parameter gradient), names, dropout in eval mode, shape errors.
#include "vae/layers/resnet_block.hpp"

#include "../encoders/stack_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Layer<ResnetBlock<float>>);

TEST_CASE("ResnetBlock gradients match finite differences (double)") {
  SUBCASE("channels change: nin_shortcut") {
    ResnetBlock<double> block(4, 6, 0.0, 2);
    CHECK(test::require_gradients(block, {2, 4, 3, 3}, 31) == 10);
  }
  SUBCASE("same channels: identity skip") {
    ResnetBlock<double> block(4, 4, 0.0, 2);
    CHECK(test::require_gradients(block, {2, 4, 3, 2}, 32) == 8);
  }
  SUBCASE("dropout 0.3, noise frozen") {
    ResnetBlock<double> block(4, 4, 0.3, 2);
    block.dropout().freeze_noise(true);
    CHECK(test::require_gradients(block, {1, 4, 3, 3}, 33) == 8);
  }
}

TEST_CASE("ResnetBlock matches taming's ResnetBlock in PyTorch (float32)") {
  SUBCASE("8 → 16 channels (nin_shortcut), GroupNorm(4)") {
    const auto f = test::golden("vqgan_resnet_block");
    generator rng(0);
    ResnetBlock<float> block(8, 16, 0.0, 4);
    parameter_store<float> store;
    store.attach(block, rng);
    test::require_stack_parity(block, store, f, "ResnetBlock", true);
  }
  SUBCASE("8 → 8 channels, GroupNorm(2)") {
    const auto f = test::golden("vqgan_resnet_block_same");
    generator rng(0);
    ResnetBlock<float> block(8, 8, 0.0, 2);
    parameter_store<float> store;
    store.attach(block, rng);
    test::require_stack_parity(block, store, f, "ResnetBlock same channels", true);
  }
}

TEST_CASE("ResnetBlock has taming's parameter names") {
  generator rng(34);
  ResnetBlock<float> block(32, 64);
  parameter_store<float> store;
  store.attach(block, rng, "down.1.block.0.");
  test::require_names(store, {{"down.1.block.0.norm1.weight", {32}},
                              {"down.1.block.0.norm1.bias", {32}},
                              {"down.1.block.0.conv1.weight", {64, 32, 3, 3}},
                              {"down.1.block.0.conv1.bias", {64}},
                              {"down.1.block.0.norm2.weight", {64}},
                              {"down.1.block.0.norm2.bias", {64}},
                              {"down.1.block.0.conv2.weight", {64, 64, 3, 3}},
                              {"down.1.block.0.conv2.bias", {64}},
                              {"down.1.block.0.nin_shortcut.weight", {64, 32, 1, 1}},
                              {"down.1.block.0.nin_shortcut.bias", {64}}});
  CHECK(block.has_shortcut());
  CHECK_FALSE(ResnetBlock<float>(32, 32).has_shortcut());
}

TEST_CASE("ResnetBlock dropout: active in training, the identity in eval mode") {
  generator rng(35);
  ResnetBlock<double> a(4, 4, 0.5, 2), b(4, 4, 0.0, 2);
  parameter_store<double> sa, sb;
  sa.attach(a, rng);
  sb.attach(b, rng);
  std::copy(sa.values(), sa.values() + sa.size(), sb.values());
  const auto x = test::random_tensor<double>({1, 4, 3, 3}, rng);
  const tensor<double> plain = b.forward(x);
  const tensor<double> dropped = a.forward(x);
  bool differs = false;
  for (std::int64_t i = 0; i < plain.numel(); ++i) differs = differs || plain[i] != dropped[i];
  CHECK(differs);
  a.set_training(false);
  const auto& eval = a.forward(x);
  for (std::int64_t i = 0; i < plain.numel(); ++i) CHECK(eval[i] == plain[i]);
}

TEST_CASE("ResnetBlock rejects a wrong channel count") {
  generator rng(36);
  ResnetBlock<float> block(32, 64);
  parameter_store<float> store;
  store.attach(block, rng);
  tensor<float> x({1, 64, 4, 4}, 0.f);
  CHECK_THROWS_WITH_AS(block.forward(x), doctest::Contains("expected input [N, 32, H, W], got [1, 64, 4, 4]"),
                       vae::error);
}
