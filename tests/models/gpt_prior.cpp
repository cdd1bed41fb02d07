// GPTPrior: finite-difference gradients of the whole model (double), PyTorch parity of the logits, loss and every
// parameter gradient, the KV-cache logits against the full forward, caption dropout, a few Adam steps learning a
// deterministic task, safetensors round trip under nanoGPT's names, option errors.
#include "vae/models/gpt_prior.hpp"

#include <filesystem>

#include "../test_support.hpp"
#include "../transformer/transformer_test_support.hpp"
#include "vae/train/adam.hpp"

using namespace vae;

namespace gpt_prior_test {
gpt_prior_options tiny(double text_loss_weight = 0.25) {
  auto o = test::transformer::prior_options(5, 3, 4, 2, 2, 2, 2, 4);
  o.text_loss_weight = text_loss_weight;
  return o;
}
tensor<std::int32_t> tokens(shape s, std::initializer_list<std::int32_t> v) {
  tensor<std::int32_t> t(s);
  std::copy(v.begin(), v.end(), t.data());
  return t;
}
}  // namespace gpt_prior_test

TEST_CASE("GPTPrior gradients of the whole model match finite differences (double)") {
  GPTPrior<double> model(gpt_prior_test::tiny(), 3);
  auto& store = model.parameters();
  // LayerNorms away from (1, 0), so that their gradients are not checked at a special point only.
  generator jitter(4);
  for (const auto& e : store.entries())
    if (e.name.find("ln_") != std::string::npos)
      for (std::int64_t i = 0; i < e.shape.numel(); ++i) store.values()[e.offset + i] += 0.3 * jitter.normal();
  const auto text = gpt_prior_test::tokens({2, 3}, {1, 4, 2, 0, 0, 3});
  const auto image = gpt_prior_test::tokens({2, 4}, {3, 0, 1, 1, 2, 2, 0, 3});
  generator rng(5);
  store.zero_grad();
  const auto l = model.train_step_loss(text, image, rng);
  CHECK(l.loss == doctest::Approx(0.75 * l.image_nll + 0.25 * l.text_nll));
  testing::gradcheck_options opt;
  opt.max_checks_per_tensor = 24;
  const auto report = test::transformer::check_store_gradients(store, [&] { return model.evaluate(text, image).loss; }, opt);
  INFO(report.summary());
  CHECK(report.ok);
  // 4 embeddings + 2 blocks × 12 + ln_f 2 + lm_head, each capped at 24
  CHECK(store.entries().size() == 4 + 24 + 2 + 1);
  CHECK(report.checked == test::transformer::store_checks(store, 24));
  // wte 24 (of 36), wpe 12, wpe_row 8, wpe_col 8; a block 140; ln_f 8; lm_head 24 (of 36)
  CHECK(report.checked == 24 + 12 + 8 + 8 + 2 * 140 + 8 + 24);
  MESSAGE("GPTPrior gradcheck: " << report.summary());
}

TEST_CASE("GPTPrior matches PyTorch: logits, loss with text weight 1/8, every parameter gradient (float32)") {
  const auto f = test::golden("gpt_prior");
  auto o = test::transformer::prior_options(7, 3, 5, 2, 3, 2, 2, 8);
  o.text_loss_weight = 1.0 / 8;
  GPTPrior<float> model(o);
  test::transformer::load_store(model.parameters(), f);
  const auto text = f.at("text").to_tensor<std::int32_t>();
  const auto image = f.at("image").to_tensor<std::int32_t>();
  test::require_parity(model.forward(model.sequence(text, image)), f, "logits", "GPTPrior logits");
  generator rng(0);
  model.parameters().zero_grad();
  const auto l = model.train_step_loss(text, image, rng);
  const double expected = f.at("loss").values<double>()[0];
  MESSAGE("GPTPrior loss " << l.loss << " PyTorch " << expected);
  CHECK(std::abs(l.loss - expected) < 1e-5);
  CHECK(test::transformer::require_grad_parity(model.parameters(), f, "GPTPrior") == 31);
}

TEST_CASE("GPTPrior: the KV-cache logits equal the full forward's at every position") {
  gpt_prior_options o = gpt_prior_test::tiny(0);
  o.n_embd = 16;
  o.image_height = 3;
  o.image_width = 3;
  GPTPrior<float> model(o, 7);
  const auto text = gpt_prior_test::tokens({2, 3}, {1, 4, 2, 0, 0, 3});
  const auto image = gpt_prior_test::tokens({2, 9}, {3, 0, 1, 1, 2, 2, 0, 3, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0});
  const auto seq = model.sequence(text, image);
  const tensor<float> full = model.forward(seq);
  const std::int64_t l = model.context(), v = model.vocab();
  auto cache = model.make_cache(2);
  double worst = 0;
  std::int64_t compared = 0;
  // the caption in one step, then one token a step
  for (std::int64_t p = 0; p < l;) {
    const std::int64_t tn = p == 0 ? o.text_length : 1;
    tensor<std::int32_t> part({2, tn});
    for (std::int64_t b = 0; b < 2; ++b)
      for (std::int64_t i = 0; i < tn; ++i) part[b * tn + i] = seq[b * l + p + i];
    const auto& logits = model.forward_cached(part, cache);
    for (std::int64_t b = 0; b < 2; ++b)
      for (std::int64_t i = 0; i < tn; ++i)
        for (std::int64_t k = 0; k < v; ++k) {
          worst = std::max(worst, double(std::abs(logits[(b * tn + i) * v + k] - full[(b * l + p + i) * v + k])));
          ++compared;
        }
    p += tn;
  }
  MESSAGE("GPTPrior cached vs full logits: max |diff| " << worst << " over " << compared << " logits");
  CHECK(compared == 2 * l * v);
  CHECK(worst < 2e-6);
  CHECK(cache.length() == l);
}

TEST_CASE("GPTPrior: caption dropout 1 trains on the empty caption") {
  gpt_prior_options o = gpt_prior_test::tiny();
  o.empty_text_token = 4;
  o.caption_dropout = 1;
  GPTPrior<double> dropped(o, 9);
  o.caption_dropout = 0;
  GPTPrior<double> plain(o, 9);
  const auto text = gpt_prior_test::tokens({2, 3}, {1, 2, 3, 0, 1, 2});
  const auto empty = gpt_prior_test::tokens({2, 3}, {4, 4, 4, 4, 4, 4});
  const auto image = gpt_prior_test::tokens({2, 4}, {3, 0, 1, 1, 2, 2, 0, 3});
  generator rng(1);
  dropped.parameters().zero_grad();
  plain.parameters().zero_grad();
  const double a = dropped.train_step_loss(text, image, rng).loss;
  const double b = plain.train_step_loss(empty, image, rng).loss;
  CHECK(a == b);
  CHECK(a != plain.evaluate(text, image).loss);
  CHECK(std::equal(dropped.parameters().grads(), dropped.parameters().grads() + dropped.parameters().size(),
                   plain.parameters().grads()));
}

TEST_CASE("GPTPrior: a few Adam steps learn a deterministic caption → tokens task") {
  // caption k (one token) → image tokens (k + i) mod 4 at grid position i
  GPTPrior<float> model(test::transformer::prior_options(4, 1, 4, 2, 3, 2, 2, 32), 1);
  tensor<std::int32_t> text({4, 1}), image({4, 6});
  for (std::int32_t k = 0; k < 4; ++k) {
    text[k] = k;
    for (std::int32_t i = 0; i < 6; ++i) image[k * 6 + i] = (k + i) % 4;
  }
  Adam<float> adam({.lr = 3e-3});
  generator rng(2);
  const double first = model.evaluate(text, image).image_nll;
  double last = first;
  for (int step = 0; step < 150; ++step) {
    model.parameters().zero_grad();
    last = model.train_step_loss(text, image, rng).image_nll;
    adam.step(model.parameters());
  }
  last = model.evaluate(text, image).image_nll;
  MESSAGE("GPTPrior toy task: image NLL " << first << " → " << last << " nats/token after 150 Adam steps");
  CHECK(first > 1.0);
  CHECK(last < 0.05);
}

TEST_CASE("GPTPrior saves and loads safetensors under nanoGPT's names") {
  GPTPrior<float> a(gpt_prior_test::tiny(), 1), b(gpt_prior_test::tiny(), 2);
  CHECK(a.parameters().find("transformer.h.0.attn.c_attn.weight") != nullptr);
  CHECK(a.parameters().find("transformer.h.1.mlp.c_proj.bias") != nullptr);
  CHECK(a.parameters().find("transformer.wpe_row.weight") != nullptr);
  CHECK(a.parameters().find("lm_head.weight")->shape == shape{9, 4});
  CHECK(a.parameters().find("lm_head.bias") == nullptr);
  const auto path = std::filesystem::temp_directory_path() / "vae_test_gpt_prior.safetensors";
  a.save(path);
  b.load(path);
  std::filesystem::remove(path);
  const auto seq = gpt_prior_test::tokens({1, 6}, {1, 2, 3, 5, 6, 7});
  const tensor<float> la = a.forward(seq);
  CHECK(test::max_abs_diff(la, b.forward(seq)) == 0.0);
  GPTPrior<float> other([] {
    auto o = gpt_prior_test::tiny();
    o.n_embd = 8;
    return o;
  }());
  CHECK_THROWS_AS(other.load(path.string() + ".missing"), vae::error);
}

TEST_CASE("GPTPrior refuses bad options and tokens, naming the allowed range") {
  auto o = gpt_prior_test::tiny();
  o.text_loss_weight = 1;
  CHECK_THROWS_WITH_AS(GPTPrior<float>{o}, doctest::Contains("text_loss_weight must be in [0, 1), got 1"), vae::error);
  o = gpt_prior_test::tiny();
  o.caption_dropout = -0.1;
  CHECK_THROWS_WITH_AS(GPTPrior<float>{o}, doctest::Contains("caption_dropout must be in [0, 1]"), vae::error);
  o = gpt_prior_test::tiny();
  o.n_embd = 5;
  CHECK_THROWS_WITH_AS(GPTPrior<float>{o}, doctest::Contains("multiple of n_head"), vae::error);
  GPTPrior<float> model(gpt_prior_test::tiny());
  const auto text = gpt_prior_test::tokens({1, 3}, {1, 5, 0});
  const auto image = gpt_prior_test::tokens({1, 4}, {0, 1, 2, 3});
  CHECK_THROWS_WITH_AS(model.evaluate(text, image),
                       doctest::Contains("caption token 5 at [0, 1] is outside the text vocabulary 0..4"), vae::error);
  const auto short_image = gpt_prior_test::tokens({1, 3}, {0, 1, 2});
  CHECK_THROWS_WITH_AS(model.evaluate(gpt_prior_test::tokens({1, 3}, {1, 1, 0}), short_image),
                       doctest::Contains("expected text [N, 3] and image [N, 4]"), vae::error);
}
