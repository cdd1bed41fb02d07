// TransformerBlock: finite-difference gradients, PyTorch parity with nanoGPT's Block, the KV-cache forward.
#include "vae/transformer/transformer_block.hpp"

#include "transformer_test_support.hpp"

using namespace vae;

TEST_CASE("TransformerBlock gradients match finite differences (double)") {
  generator rng(21);
  TransformerBlock<double> block(4, 2);
  parameter_store<double> store;
  store.attach(block, rng);
  auto x = test::random_tensor<double>({2, 3, 4}, rng);
  const auto report = testing::check_layer_gradients(block, store, x);
  INFO(report.summary());
  CHECK(report.ok);
  // x 24; ln_1 4+4; c_attn 48+12; c_proj 16+4; ln_2 4+4; c_fc 64+16; mlp.c_proj 64+4
  CHECK(report.checked == 24 + 8 + 60 + 20 + 8 + 80 + 68);
  CHECK(report.checked == test::layer_checks(x, store));
}

TEST_CASE("TransformerBlock matches PyTorch (nanoGPT's Block, float32)") {
  const auto f = test::golden("transformer_block");
  generator rng(0);
  TransformerBlock<float> block(8, 2);
  parameter_store<float> store;
  store.attach(block, rng);
  CHECK(store.entries().front().name == "ln_1.weight");
  CHECK(store.find("mlp.c_fc.weight") != nullptr);
  CHECK(test::transformer::require_layer_parity(block, store, f, "TransformerBlock") == 12);
}

TEST_CASE("TransformerBlock: the KV-cache forward reproduces the full forward") {
  generator rng(22);
  TransformerBlock<float> block(16, 2);
  parameter_store<float> store;
  store.attach(block, rng);
  const std::int64_t T = 5, C = 16;
  const auto x = test::random_tensor<float>({1, T, C}, rng);
  const tensor<float> full = block.forward(x);
  kv_cache<float> cache(1, 1, 2, T, 8);
  double worst = 0;
  for (std::int64_t t = 0; t < T; ++t) {
    tensor<float> one({1, 1, C});
    std::copy(x.data() + t * C, x.data() + (t + 1) * C, one.data());
    const auto& y = block.forward_cached(one, cache.slot(0, 1));
    cache.advance(1);
    for (std::int64_t c = 0; c < C; ++c) worst = std::max(worst, double(std::abs(y.data()[c] - full.data()[t * C + c])));
  }
  MESSAGE("block: cached vs full max |diff| " << worst);
  CHECK(worst < 1e-5);
}

TEST_CASE("TransformerBlock backward accumulates into parameter gradients") {
  generator rng(41);
  TransformerBlock<double> layer(4, 2);
  parameter_store<double> store;
  store.attach(layer, rng);
  const auto x = test::random_tensor<double>({2, 3, 4}, rng);
  const auto dy = test::random_tensor<double>({2, 3, 4}, rng);
  store.zero_grad();
  layer.forward(x);
  layer.backward(dy);
  const std::vector<double> once(store.grads(), store.grads() + store.size());
  layer.backward(dy);
  std::int64_t doubled = 0;
  for (std::int64_t i = 0; i < store.size(); ++i) doubled += store.grads()[i] == doctest::Approx(2 * once[i]);
  CHECK(doubled == store.size());
}
