// TextToImage: a model built in memory (shapes captions, a small GPTPrior, a decoder that paints each token as a
// patch) generates seeded, reproducible images of the right shape; the same model saved as a run directory and
// loaded back generates the same images; prompts (empty, unknown words, over-long) and mismatched parts.
// Skipped (exit 77) when the build has no sentencepiece (VAE_WITH_SENTENCEPIECE, libsentencepiece-dev).
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>

#if defined(VAE_WITH_SENTENCEPIECE)
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "vae/data/shapes.hpp"
#include "vae/models/text_to_image.hpp"

namespace text_to_image_test {
// Token k of an h × w grid → a 2 × 2 patch of intensity k / 15 in a 1-channel [N, 1, 2h, 2w] image.
struct patch_decoder {
  int calls = 0;
  void decode_tokens(const vae::tensor<std::int32_t>& t, vae::tensor<float>& out) {
    ++calls;
    const std::int64_t n = t.dim(0), h = t.dim(1), w = t.dim(2);
    out.resize({n, 1, 2 * h, 2 * w});
    for (std::int64_t b = 0; b < n; ++b)
      for (std::int64_t y = 0; y < 2 * h; ++y)
        for (std::int64_t x = 0; x < 2 * w; ++x)
          out[(b * 2 * h + y) * 2 * w + x] = static_cast<float>(t[(b * h + y / 2) * w + x / 2]) / 15.0f;
  }
};
static_assert(vae::TokenDecoder<patch_decoder>);
static_assert(vae::TokenDecoder<std::unique_ptr<patch_decoder>>);
static_assert(!vae::TokenDecoder<int>);

inline const vae::text::caption_tokenizer& captions_tokenizer() {
  static const auto t = vae::text::caption_tokenizer::train(vae::data::generate_shapes(200, 3, {.image_size = 32}).captions);
  return t;
}
inline vae::gpt_prior_options small_prior(std::int64_t text_vocab) {
  vae::gpt_prior_options o;
  o.text_vocab = text_vocab;
  o.text_length = 12;
  o.image_vocab = 16;
  o.image_height = 3;
  o.image_width = 4;
  o.n_layer = 1;
  o.n_head = 2;
  o.n_embd = 16;
  return o;
}
inline vae::TextToImage<patch_decoder> small_model(std::uint64_t seed = 7) {
  const auto& tok = captions_tokenizer();
  return {tok, std::make_unique<vae::GPTPrior<float>>(small_prior(tok.vocab_size()), seed), patch_decoder{}};
}
inline vae::sampling_options guided() {
  vae::sampling_options s;
  s.cfg_scale = 3;
  s.top_k = 8;
  s.top_p = 0.95;
  return s;
}
}  // namespace text_to_image_test

TEST_CASE("TextToImage::generate: one image per prompt, [n, C, H, W] from the decoder; seeded and reproducible") {
  namespace t = text_to_image_test;
  auto m = t::small_model();
  const std::vector<std::string> prompts = {"a large red circle", "", "a small blue square above a large yellow triangle"};
  const auto a = m.generate(prompts, t::guided(), 1);
  CHECK(a.shape() == vae::shape{3, 1, 6, 8});
  CHECK(m.decoder().calls == 1);
  const auto b = m.generate(prompts, t::guided(), 1);
  CHECK(std::equal(a.begin(), a.end(), b.begin()));
  const auto c = m.generate(prompts, t::guided(), 2);
  CHECK(!std::equal(a.begin(), a.end(), c.begin()));
  // The images are the decoder's drawing of sample_image_tokens over the encoded prompts, nothing else.
  auto s = t::guided();
  s.seed = 1;
  const auto tokens = vae::sample_image_tokens(m.prior(), vae::encode_prompts(m.tokenizer(), prompts, 12), s);
  CHECK(tokens.shape() == vae::shape{3, 12});
  const auto grid = m.sample_tokens(prompts, t::guided(), 1);
  CHECK(grid.shape() == vae::shape{3, 3, 4});
  CHECK(std::equal(grid.begin(), grid.end(), tokens.begin()));
  for (std::int64_t i = 0; i < 3; ++i) CHECK(a[i * 48] == static_cast<float>(tokens[i * 12]) / 15.0f);
  CHECK_THROWS_WITH_AS(m.generate({}, t::guided(), 1), doctest::Contains("no prompts"), vae::error);
}

TEST_CASE("TextToImage prompts: empty = the unconditional row; unknown words and over-long prompts warn and generate") {
  namespace t = text_to_image_test;
  auto m = t::small_model();
  std::vector<std::string> warnings;
  m.set_warning_sink([&](const std::string& w) { warnings.push_back(w); });
  const auto rows = m.encode({"", "  ", "a red circle"});
  for (std::int64_t i = 0; i < 24; ++i) CHECK(rows[i] == vae::text::caption_tokenizer::pad_id);
  CHECK(rows[24] == vae::text::caption_tokenizer::bos_id);
  CHECK(warnings.empty());
  // cfg 0 samples the unconditional rows alone: any caption then gives the images of the empty one.
  auto uncond = t::guided();
  uncond.cfg_scale = 0;
  const auto e = m.generate({""}, t::guided(), 4), u = m.generate({"a large red circle"}, uncond, 4);
  const auto plain_empty = m.generate({""}, uncond, 4);
  CHECK(std::equal(u.begin(), u.end(), plain_empty.begin()));
  CHECK(e.shape() == u.shape());
  const auto x = m.generate({"a purple circle", "a small red circle above a large red circle to the left of a small white square below a green triangle"},
                            t::guided(), 5);
  CHECK(x.dim(0) == 2);
  REQUIRE(warnings.size() == 2);
  CHECK(warnings[0].find("'purple'") != std::string::npos);
  CHECK(warnings[1].find("truncated") != std::string::npos);
}

TEST_CASE("TextToImage::load: a run directory (tokenizer.model, model.safetensors, config.json) generates the same "
          "images; missing files and mismatched parts are refused") {
  namespace t = text_to_image_test;
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / ("vae_text_to_image_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto m = t::small_model(11);
  m.tokenizer().save(dir / vae::text::tokenizer_file);
  m.prior().save(dir / "model.safetensors");
  std::ofstream(dir / "config.json") << R"({"model": "text2img", "tokenizer_run": "/runs/vq"})";
  fs::path asked;
  auto loaded = vae::load_text_to_image(dir, [&](const fs::path& vq) {
    asked = vq;
    return t::patch_decoder{};
  });
  CHECK(asked == "/runs/vq");
  CHECK(loaded.prior().options().n_embd == 16);
  CHECK(loaded.prior().options().image_width == 4);
  const std::vector<std::string> prompts = {"a small green triangle", ""};
  const auto a = m.generate(prompts, t::guided(), 3), b = loaded.generate(prompts, t::guided(), 3);
  CHECK(a.shape() == b.shape());
  CHECK(std::equal(a.begin(), a.end(), b.begin()));

  auto open = [](const fs::path&) { return t::patch_decoder{}; };
  // a tokenizer of another caption set: the vocabularies differ
  vae::text::caption_tokenizer::train({"one two three", "four five six seven"}, {.vocab_size = 64, .model_type = "bpe"})
      .save(dir / "other.model");
  CHECK_THROWS_WITH_AS(vae::TextToImage<t::patch_decoder>(vae::text::caption_tokenizer::load(dir / "other.model"),
                                                          std::make_unique<vae::GPTPrior<float>>(
                                                              t::small_prior(m.tokenizer().vocab_size())),
                                                          t::patch_decoder{}),
                       doctest::Contains("the prior's text vocabulary is"), vae::error);
  std::ofstream(dir / "config.json") << R"({"model": "text2img"})";
  CHECK_THROWS_WITH_AS(vae::load_text_to_image(dir, open), doctest::Contains("names no tokenizer_run"), vae::error);
  fs::remove(dir / vae::text::tokenizer_file);
  CHECK_THROWS_WITH_AS(vae::load_text_to_image(dir, open), doctest::Contains("tokenizer.model is missing"), vae::error);
  fs::remove_all(dir);
}

#else
TEST_CASE("TextToImage: skipped without sentencepiece") {
  std::printf("SKIP: this build has no sentencepiece (apt-get install libsentencepiece-dev, reconfigure: "
              "VAE_WITH_SENTENCEPIECE)\n");
  std::fflush(stdout);
  std::exit(77);
}
#endif
