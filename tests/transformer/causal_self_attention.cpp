// CausalSelfAttention: finite-difference gradients, PyTorch parity (forward, dx, every parameter gradient), the causal
// mask, the KV-cache forward against the full one, argument errors.
#include "vae/transformer/causal_self_attention.hpp"

#include "transformer_test_support.hpp"

using namespace vae;

TEST_CASE("CausalSelfAttention gradients match finite differences (double)") {
  generator rng(11);
  CausalSelfAttention<double> attn(6, 2);
  parameter_store<double> store;
  store.attach(attn, rng);
  auto x = test::random_tensor<double>({2, 4, 6}, rng);
  const auto report = testing::check_layer_gradients(attn, store, x);
  INFO(report.summary());
  CHECK(report.ok);
  // x 48, c_attn.weight 96 (capped), c_attn.bias 18, c_proj.weight 36, c_proj.bias 6
  CHECK(report.checked == 48 + 96 + 18 + 36 + 6);
  CHECK(report.checked == test::layer_checks(x, store));
}

TEST_CASE("CausalSelfAttention matches PyTorch (nanoGPT's CausalSelfAttention, float32)") {
  const auto f = test::golden("transformer_attention");
  generator rng(0);
  CausalSelfAttention<float> attn(8, 2);
  parameter_store<float> store;
  store.attach(attn, rng);
  CHECK(test::transformer::require_layer_parity(attn, store, f, "CausalSelfAttention") == 4);
}

TEST_CASE("CausalSelfAttention: a position's output does not depend on later positions") {
  generator rng(12);
  CausalSelfAttention<double> attn(8, 4);
  parameter_store<double> store;
  store.attach(attn, rng);
  auto x = test::random_tensor<double>({1, 6, 8}, rng);
  const tensor<double> before = attn.forward(x);
  for (std::int64_t c = 0; c < 8; ++c) x.data()[5 * 8 + c] += 1.0;  // change the last position only
  const auto& after = attn.forward(x);
  std::int64_t same = 0, changed = 0;
  for (std::int64_t i = 0; i < 5 * 8; ++i) same += before.data()[i] == after.data()[i];
  for (std::int64_t i = 5 * 8; i < 6 * 8; ++i) changed += before.data()[i] != after.data()[i];
  CHECK(same == 40);
  CHECK(changed == 8);
}

TEST_CASE("CausalSelfAttention: the KV-cache forward reproduces the full forward position by position") {
  generator rng(13);
  CausalSelfAttention<float> attn(16, 4);
  parameter_store<float> store;
  store.attach(attn, rng);
  const std::int64_t batch = 2, T = 9, prefix = 3, C = 16;
  const auto x = test::random_tensor<float>({batch, T, C}, rng);
  const tensor<float> full = attn.forward(x);
  kv_cache<float> cache(1, batch, 4, T, 4);
  tensor<float> cached({batch, T, C});
  auto feed = [&](std::int64_t from, std::int64_t n) {
    tensor<float> part({batch, n, C});
    for (std::int64_t b = 0; b < batch; ++b)
      std::copy(x.data() + (b * T + from) * C, x.data() + (b * T + from + n) * C, part.data() + b * n * C);
    const auto& y = attn.forward_cached(part, cache.slot(0, n));
    cache.advance(n);
    for (std::int64_t b = 0; b < batch; ++b)
      std::copy(y.data() + b * n * C, y.data() + (b + 1) * n * C, cached.data() + (b * T + from) * C);
  };
  feed(0, prefix);
  for (std::int64_t t = prefix; t < T; ++t) feed(t, 1);
  const double diff = test::max_abs_diff(full, cached);
  MESSAGE("attention: cached vs full max |diff| " << diff);
  CHECK(diff < 1e-5);
  CHECK(cache.length() == T);
  CHECK_THROWS_WITH_AS(cache.slot(0, 1), doctest::Contains("exceed its capacity of 9 positions"), vae::error);
}

TEST_CASE("CausalSelfAttention refuses sizes that do not split into heads and wrong inputs") {
  CHECK_THROWS_WITH_AS(CausalSelfAttention<float>(10, 3), doctest::Contains("multiple of n_head, got n_embd=10 n_head=3"),
                       vae::error);
  generator rng(14);
  CausalSelfAttention<float> attn(8, 2);
  parameter_store<float> store;
  store.attach(attn, rng);
  tensor<float> x({2, 8}, 0.f);
  CHECK_THROWS_WITH_AS(attn.forward(x), doctest::Contains("expected input [B, T, 8], got [2, 8]"), vae::error);
  tensor<float> dy({1, 2, 8}, 0.f);
  CHECK_THROWS_WITH_AS(attn.backward(dy), doctest::Contains("before forward"), vae::error);
}

TEST_CASE("CausalSelfAttention backward accumulates into parameter gradients") {
  generator rng(41);
  CausalSelfAttention<double> layer(6, 2);
  parameter_store<double> store;
  store.attach(layer, rng);
  const auto x = test::random_tensor<double>({2, 3, 6}, rng);
  const auto dy = test::random_tensor<double>({2, 3, 6}, rng);
  store.zero_grad();
  layer.forward(x);
  layer.backward(dy);
  const std::vector<double> once(store.grads(), store.grads() + store.size());
  layer.backward(dy);
  std::int64_t doubled = 0;
  for (std::int64_t i = 0; i < store.size(); ++i) doubled += store.grads()[i] == doctest::Approx(2 * once[i]);
  CHECK(doubled == store.size());
}
