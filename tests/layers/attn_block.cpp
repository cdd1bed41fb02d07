// AttnBlock: finite-difference gradients (double), PyTorch parity with taming's AttnBlock (forward, dx, every
// parameter gradient), names, attention rows summing to one, shape errors.
#include "vae/layers/attn_block.hpp"

#include "../encoders/stack_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Layer<AttnBlock<float>>);

TEST_CASE("AttnBlock gradients match finite differences (double)") {
  AttnBlock<double> block(4, 2);
  CHECK(test::require_gradients(block, {2, 4, 3, 2}, 21) == 10);
}

TEST_CASE("AttnBlock matches taming's AttnBlock in PyTorch (float32, 32 channels, GroupNorm(32))") {
  const auto f = test::golden("vqgan_attn_block");
  generator rng(0);
  AttnBlock<float> block(32);
  parameter_store<float> store;
  store.attach(block, rng);
  test::require_stack_parity(block, store, f, "AttnBlock", true);
  const auto& a = block.attention();
  REQUIRE(a.shape() == shape{2, 12, 12});
  for (std::int64_t r = 0; r < 24; ++r) {
    double s = 0;
    for (std::int64_t j = 0; j < 12; ++j) s += a[r * 12 + j];
    CHECK(s == doctest::Approx(1.0).epsilon(1e-6));
  }
}

TEST_CASE("AttnBlock has taming's parameter names and rejects a wrong channel count") {
  generator rng(22);
  AttnBlock<float> block(64);
  parameter_store<float> store;
  store.attach(block, rng, "mid.attn_1.");
  test::require_names(store, {{"mid.attn_1.norm.weight", {64}},
                              {"mid.attn_1.norm.bias", {64}},
                              {"mid.attn_1.q.weight", {64, 64, 1, 1}},
                              {"mid.attn_1.q.bias", {64}},
                              {"mid.attn_1.k.weight", {64, 64, 1, 1}},
                              {"mid.attn_1.k.bias", {64}},
                              {"mid.attn_1.v.weight", {64, 64, 1, 1}},
                              {"mid.attn_1.v.bias", {64}},
                              {"mid.attn_1.proj_out.weight", {64, 64, 1, 1}},
                              {"mid.attn_1.proj_out.bias", {64}}});
  tensor<float> x({1, 32, 4, 4}, 0.f);
  CHECK_THROWS_WITH_AS(block.forward(x), doctest::Contains("expected input [N, 64, H, W], got [1, 32, 4, 4]"),
                       vae::error);
  CHECK_THROWS_AS(AttnBlock<float>(48), vae::error);  // GroupNorm(32) needs a multiple of 32 channels
}

TEST_CASE("AttnBlock backward accumulates into parameter gradients") {
  generator rng(23);
  AttnBlock<double> block(4, 2);
  parameter_store<double> store;
  store.attach(block, rng);
  const auto x = test::random_tensor<double>({2, 4, 2, 2}, rng);
  test::require_accumulates(block, store, x, rng);
}
