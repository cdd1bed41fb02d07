// Sampler: top-k / top-p supports on hand-made logits, guidance at scales 0, 1, 3, the cached sampler against full
// recomputation, reproducibility by seed, priming, refused arguments with their ranges.
#include "vae/transformer/sampler.hpp"

#include <set>

#include "transformer_test_support.hpp"

using namespace vae;

namespace sampler_test {
constexpr float ninf = -std::numeric_limits<float>::infinity();

std::set<std::int64_t> support(const std::vector<float>& v) {
  std::set<std::int64_t> s;
  for (std::size_t i = 0; i < v.size(); ++i)
    if (v[i] != ninf) s.insert(static_cast<std::int64_t>(i));
  return s;
}

gpt_prior_options tiny() { return test::transformer::prior_options(6, 2, 9, 3, 4, 2, 2, 16); }

// A model whose logits are far from uniform (larger weights than nanoGPT's init), so samples depend on the model.
void sharpen(GPTPrior<float>& model) {
  generator rng(77);
  auto& s = model.parameters();
  for (std::int64_t i = 0; i < s.size(); ++i) s.values()[i] += static_cast<float>(0.3 * rng.normal());
}

tensor<std::int32_t> captions(std::int64_t n) {
  tensor<std::int32_t> t({n, 2});
  for (std::int64_t i = 0; i < 2 * n; ++i) t[i] = static_cast<std::int32_t>(1 + i % 5);
  return t;
}
}  // namespace sampler_test

TEST_CASE("keep_top_k keeps exactly the k largest logits (ties to the lower index)") {
  using sampler_test::support;
  const std::vector<float> logits{1, 5, 3, 5, -2, 4};
  auto v = logits;
  keep_top_k<float>(v, 3);
  CHECK(support(v) == std::set<std::int64_t>{1, 3, 5});
  CHECK(v[1] == 5.f);
  CHECK(v[5] == 4.f);
  v = logits;
  keep_top_k<float>(v, 1);
  CHECK(support(v) == std::set<std::int64_t>{1});
  v = logits;
  keep_top_k<float>(v, 2);
  CHECK(support(v) == std::set<std::int64_t>{1, 3});
  v = logits;
  keep_top_k<float>(v, 6);
  CHECK(v == logits);
}

TEST_CASE("keep_top_p keeps the fewest most likely tokens reaching p") {
  using sampler_test::support;
  // probabilities 0.05, 0.5, 0.1, 0.2, 0.15 at indices 0..4
  const std::vector<double> probs{0.05, 0.5, 0.1, 0.2, 0.15};
  std::vector<float> logits;
  for (const double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  const std::vector<std::pair<double, std::set<std::int64_t>>> cases{
      {0.3, {1}}, {0.5, {1}}, {0.6, {1, 3}}, {0.8, {1, 3, 4}}, {0.9, {1, 3, 4, 2}}, {0.99, {0, 1, 2, 3, 4}}, {1.0, {0, 1, 2, 3, 4}}};
  for (const auto& [p, expected] : cases) {
    auto v = logits;
    keep_top_p<float>(v, p);
    INFO("p = " << p);
    CHECK(support(v) == expected);
  }
  // the kept logits are unchanged
  auto v = logits;
  keep_top_p<float>(v, 0.6);
  CHECK(v[1] == logits[1]);
  CHECK(v[3] == logits[3]);
}

TEST_CASE("sample_logits draws only from the top-k / top-p support, and each of it") {
  const std::vector<float> logits{0.0f, 2.0f, 1.9f, -1.0f, 1.8f};
  sampling_options o;
  o.top_k = 2;
  generator rng(3);
  std::set<std::int64_t> seen;
  for (int i = 0; i < 400; ++i) {
    auto v = logits;
    seen.insert(sample_logits<float>(v, o, rng.uniform()));
  }
  CHECK(seen == std::set<std::int64_t>{1, 2});
  o.top_k.reset();
  o.top_p = 0.5;  // p ∝ e^x: index 1 alone has 0.36 of the mass, 1 and 2 together 0.69
  seen.clear();
  for (int i = 0; i < 400; ++i) {
    auto v = logits;
    seen.insert(sample_logits<float>(v, o, rng.uniform()));
  }
  CHECK(seen == std::set<std::int64_t>{1, 2});
  o.top_p.reset();
  o.temperature = 0;
  auto v = logits;
  CHECK(sample_logits<float>(v, o, 0.99) == 1);
}

TEST_CASE("guide_logits: scale 1 gives the conditional logits, 0 the unconditional ones, s the guided ones") {
  const std::vector<float> cond{0.3f, -1.7f, 2.2f, 0.1f}, uncond{1.1f, 0.4f, -0.6f, 0.1f};
  auto v = cond;
  guide_logits<float>(v, uncond, 1.0);
  CHECK(v == cond);
  v = cond;
  guide_logits<float>(v, uncond, 0.0);
  CHECK(v == uncond);
  v = cond;
  guide_logits<float>(v, uncond, 3.0);
  for (std::size_t i = 0; i < v.size(); ++i) CHECK(v[i] == uncond[i] + 3.f * (cond[i] - uncond[i]));
}

TEST_CASE("The KV-cache sampler gives the tokens of full recomputation; the same seed the same tokens") {
  GPTPrior<float> model(sampler_test::tiny(), 5);
  sampler_test::sharpen(model);
  const auto text = sampler_test::captions(3);
  for (const double cfg : {1.0, 3.0}) {
    sampling_options o;
    o.seed = 11;
    o.cfg_scale = cfg;
    o.top_k = 6;
    o.top_p = 0.95;
    const auto a = sample_image_tokens(model, text, o);
    const auto b = sample_image_tokens(model, text, o);
    const auto full = sample_image_tokens_uncached(model, text, o);
    INFO("cfg " << cfg);
    REQUIRE(a.shape() == shape{3, 12});
    CHECK(std::equal(a.data(), a.data() + a.numel(), b.data()));
    CHECK(std::equal(a.data(), a.data() + a.numel(), full.data()));
    o.seed = 12;
    const auto c = sample_image_tokens(model, text, o);
    CHECK_FALSE(std::equal(a.data(), a.data() + a.numel(), c.data()));
    std::set<std::int32_t> used(a.data(), a.data() + a.numel());
    CHECK(used.size() > 2);
    CHECK(*used.begin() >= 0);
    CHECK(*used.rbegin() < 9);
  }
}

TEST_CASE("Batch-parallel sampling: groups of images on their own threads give the tokens of one thread") {
#if defined(_OPENMP)
  GPTPrior<float> model(sampler_test::tiny(), 9);
  sampler_test::sharpen(model);
  const auto text = sampler_test::captions(5);
  tensor<std::int32_t> prime({5, 2});
  for (std::int64_t i = 0; i < prime.numel(); ++i) prime[i] = static_cast<std::int32_t>(i % 9);
  const int saved = omp_get_max_threads();
  for (const bool primed : {false, true}) {
    sampling_options o;
    o.seed = 3;
    o.cfg_scale = 3;
    o.top_k = 6;
    o.top_p = 0.95;
    std::int64_t calls = 0, last_done = 0;
    omp_set_num_threads(1);  // one group: the whole batch
    const auto one = sample_image_tokens(model, text, o, primed ? &prime : nullptr);
    for (const int threads : {2, 3, 5}) {  // groups of 3+2, 2+1+2 and 1 image each
      omp_set_num_threads(threads);
      o.progress = [&](std::int64_t done, std::int64_t) { ++calls, last_done = done; };
      calls = 0;
      const auto split = sample_image_tokens(model, text, o, primed ? &prime : nullptr);
      INFO(threads << " threads, primed " << primed);
      CHECK(std::equal(one.data(), one.data() + one.numel(), split.data()));
      CHECK(calls == (primed ? 10 : 12));  // the first group reports every position it samples
      CHECK(last_done == calls);
    }
    // The model's parameters are those of the copies: a later single-thread call gives the same tokens again.
    omp_set_num_threads(1);
    o.progress = nullptr;
    const auto again = sample_image_tokens(model, text, o, primed ? &prime : nullptr);
    CHECK(std::equal(one.data(), one.data() + one.numel(), again.data()));
  }
  omp_set_num_threads(saved);
#else
  MESSAGE("skipped: built without OpenMP, sampling runs as one group");
#endif
}

TEST_CASE("Sampling with cfg 0 is sampling the empty caption; progress counts every position") {
  GPTPrior<float> model(sampler_test::tiny(), 6);
  sampler_test::sharpen(model);
  const auto text = sampler_test::captions(2);
  tensor<std::int32_t> empty({2, 2}, 0);
  sampling_options o;
  o.seed = 4;
  o.cfg_scale = 0;
  std::int64_t calls = 0, last_done = 0, total = 0;
  o.progress = [&](std::int64_t done, std::int64_t of) {
    ++calls;
    last_done = done;
    total = of;
  };
  const auto guided = sample_image_tokens(model, text, o);
  CHECK(calls == 12);
  CHECK(last_done == 12);
  CHECK(total == 12);
  o.cfg_scale = 1;
  const auto uncond = sample_image_tokens(model, empty, o);
  CHECK(std::equal(guided.data(), guided.data() + guided.numel(), uncond.data()));
}

TEST_CASE("Priming keeps the given first tokens and continues them like the unprimed sampler would") {
  GPTPrior<float> model(sampler_test::tiny(), 8);
  sampler_test::sharpen(model);
  const auto text = sampler_test::captions(2);
  sampling_options o;
  o.temperature = 0;  // greedy: the continuation of the greedy prefix is the greedy continuation
  const auto whole = sample_image_tokens(model, text, o);
  tensor<std::int32_t> prime({2, 5});
  for (std::int64_t b = 0; b < 2; ++b)
    for (std::int64_t i = 0; i < 5; ++i) prime[b * 5 + i] = whole[b * 12 + i];
  const auto primed = sample_image_tokens(model, text, o, &prime);
  CHECK(std::equal(whole.data(), whole.data() + whole.numel(), primed.data()));
  // another prime: its tokens are kept as given
  for (std::int64_t i = 0; i < prime.numel(); ++i) prime[i] = static_cast<std::int32_t>(8 - i % 9);
  o.temperature = 1;
  const auto other = sample_image_tokens(model, text, o, &prime);
  for (std::int64_t b = 0; b < 2; ++b)
    for (std::int64_t i = 0; i < 5; ++i) CHECK(other[b * 12 + i] == prime[b * 5 + i]);
}

TEST_CASE("Sampling refuses bad arguments, naming the allowed range") {
  GPTPrior<float> model(sampler_test::tiny(), 9);
  const auto text = sampler_test::captions(1);
  sampling_options o;
  o.top_k = 0;
  CHECK_THROWS_WITH_AS(sample_image_tokens(model, text, o), doctest::Contains("top_k must be in [1, 9] (the image vocabulary), got 0"), vae::error);
  o = {};
  o.top_p = 1.5;
  CHECK_THROWS_WITH_AS(sample_image_tokens(model, text, o), doctest::Contains("top_p must be in (0, 1], got 1.5"), vae::error);
  o.top_p = 0;
  CHECK_THROWS_WITH_AS(sample_image_tokens(model, text, o), doctest::Contains("top_p must be in (0, 1], got 0"), vae::error);
  o = {};
  o.cfg_scale = -1;
  CHECK_THROWS_WITH_AS(sample_image_tokens(model, text, o), doctest::Contains("cfg_scale must be ≥ 0 (1 = no guidance, 0 = unconditional), got -1"), vae::error);
  o = {};
  o.temperature = -0.5;
  CHECK_THROWS_WITH_AS(sample_image_tokens(model, text, o), doctest::Contains("temperature must be ≥ 0"), vae::error);
  o = {};
  tensor<std::int32_t> none({0, 2});
  CHECK_THROWS_WITH_AS(sample_image_tokens(model, none, o), doctest::Contains("n (images to sample) must be ≥ 1, got 0"), vae::error);
  tensor<std::int32_t> prime({1, 2}, 9);
  CHECK_THROWS_WITH_AS(sample_image_tokens(model, text, o, &prime), doctest::Contains("priming token 9 is outside the image vocabulary 0..8"), vae::error);
}
