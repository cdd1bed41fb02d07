// Tests for text/tokenizer.hpp: round trip, fixed special ids, unknown characters, truncation warnings, determinism, save/load.
// Skipped (exit 77) when the build has no sentencepiece (VAE_WITH_SENTENCEPIECE, libsentencepiece-dev).
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>

#if defined(VAE_WITH_SENTENCEPIECE)
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "vae/data/shapes.hpp"
#include "vae/text/tokenizer.hpp"

using vae::text::caption_tokenizer;

namespace tokenizer_test {
inline const std::vector<std::string>& shapes_captions() {
  static const auto captions = vae::data::generate_shapes(2000, 1, {.image_size = 32, .two_objects = 0.5, .excluded = {}, .accept = {}, .max_attempts = 10000}).captions;
  return captions;
}
inline const caption_tokenizer& shapes_tokenizer() {
  static const auto t = caption_tokenizer::train(shapes_captions());
  return t;
}
}  // namespace tokenizer_test
using namespace tokenizer_test;

TEST_CASE("tokenizer: captions round-trip through encode and decode; special ids are 0..3") {
  const auto& t = shapes_tokenizer();
  CHECK(t.piece(caption_tokenizer::pad_id) == "<pad>");
  CHECK(t.piece(caption_tokenizer::unk_id) == "<unk>");
  CHECK(t.piece(caption_tokenizer::bos_id) == "<s>");
  CHECK(t.piece(caption_tokenizer::eos_id) == "</s>");
  MESSAGE("shapes caption vocabulary: " << t.vocab_size() << " pieces");
  CHECK(t.vocab_size() > 4);
  CHECK(t.vocab_size() <= 512);
  int checked = 0;
  for (std::size_t i = 0; i < 300; ++i) {
    const auto& c = shapes_captions()[i];
    const auto e = t.encode(c, 32);
    REQUIRE(e.ids.size() == 32);
    CHECK(e.ids.front() == caption_tokenizer::bos_id);
    CHECK(e.ids[static_cast<std::size_t>(e.length - 1)] == caption_tokenizer::eos_id);
    for (std::size_t k = static_cast<std::size_t>(e.length); k < 32; ++k) CHECK(e.ids[k] == caption_tokenizer::pad_id);
    CHECK(!e.truncated);
    CHECK(e.unknown == 0);
    CHECK(t.decode(e.ids) == c);
    ++checked;
  }
  CHECK(checked == 300);
  CHECK(t.decode(t.pieces("A LARGE Red Circle")) == "a large red circle");  // case-folded
  CHECK(t.pieces("a large red circle").size() <= 8);  // whole words are pieces, not letters
}

TEST_CASE("tokenizer: unseen characters become <unk> and are reported; unseen words are spelled in known pieces") {
  const auto& t = shapes_tokenizer();
  std::vector<std::string> warnings;
  const auto e = t.encode("a red circle #7", 32, [&](const std::string& w) { warnings.push_back(w); });
  CHECK(e.unknown >= 1);
  CHECK(std::count(e.ids.begin(), e.ids.end(), caption_tokenizer::unk_id) == e.unknown);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("encoded as <unk>") != std::string::npos);
  warnings.clear();
  const auto w = t.encode("a tiny teal circle", 32, [&](const std::string& m) { warnings.push_back(m); });
  CHECK(w.unknown == 0);  // letters the captions have
  CHECK(t.decode(w.ids) == "a tiny teal circle");
  CHECK(warnings.empty());
}

TEST_CASE("tokenizer: a caption longer than the text context is truncated with a warning, never silently") {
  const auto& t = shapes_tokenizer();
  const std::string c = "a small blue square to the left of a large yellow triangle";
  const auto full = t.pieces(c);
  REQUIRE(full.size() > 3);
  std::vector<std::string> warnings;
  const auto context = static_cast<std::int64_t>(full.size());  // two short: <bos> and <eos> need room
  const auto e = t.encode(c, context, [&](const std::string& w) { warnings.push_back(w); });
  CHECK(e.truncated);
  CHECK(e.length == context);
  CHECK(e.ids.back() == caption_tokenizer::eos_id);
  CHECK(std::equal(e.ids.begin() + 1, e.ids.end() - 1, full.begin()));
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("more than the text context of " + std::to_string(context)) != std::string::npos);
  CHECK(warnings[0].find("truncated to '") != std::string::npos);
  warnings.clear();
  const auto fits = t.encode(c, context + 2, [&](const std::string& w) { warnings.push_back(w); });
  CHECK(!fits.truncated);
  CHECK(warnings.empty());
  CHECK_THROWS_WITH_AS(t.encode(c, 1), doctest::Contains("must hold <bos> and <eos>"), vae::error);
}

TEST_CASE("tokenizer: training is deterministic; save and load give the same tokenizer; bad input is refused") {
  const auto a = caption_tokenizer::train(shapes_captions());
  CHECK(a.serialized() == shapes_tokenizer().serialized());
  const auto small = caption_tokenizer::train(shapes_captions(), {.vocab_size = 64, .model_type = "bpe"});
  CHECK(small.serialized() == caption_tokenizer::train(shapes_captions(), {.vocab_size = 64, .model_type = "bpe"}).serialized());
  CHECK(small.vocab_size() <= 64);
  CHECK(small.decode(small.encode("a large red circle", 16).ids) == "a large red circle");
  const auto unigram = caption_tokenizer::train(shapes_captions(), {.vocab_size = 512, .model_type = "unigram"});
  CHECK(unigram.serialized() == caption_tokenizer::train(shapes_captions(), {.vocab_size = 512, .model_type = "unigram"}).serialized());
  CHECK(unigram.decode(unigram.encode("a small blue square above a large yellow triangle", 64).ids) ==
        "a small blue square above a large yellow triangle");

  const auto dir = std::filesystem::temp_directory_path() / vae::cat("vae_test_tokenizer_", ::getpid());
  std::filesystem::create_directories(dir);
  a.save(dir / "tokenizer.model");
  const auto b = caption_tokenizer::load(dir / "tokenizer.model");
  CHECK(b.serialized() == a.serialized());
  CHECK(b.encode("a small green triangle below a white square", 24).ids ==
        a.encode("a small green triangle below a white square", 24).ids);
  std::ofstream(dir / "junk.model") << "not a model";
  CHECK_THROWS_WITH_AS(caption_tokenizer::load(dir / "junk.model"), doctest::Contains("is not a sentencepiece model"), vae::error);
  CHECK_THROWS_WITH_AS(caption_tokenizer::load(dir / "missing.model"), doctest::Contains("cannot open"), vae::error);
  std::filesystem::remove_all(dir);

  CHECK_THROWS_WITH_AS(caption_tokenizer::train({"", "  "}), doctest::Contains("no caption with text"), vae::error);
  CHECK_THROWS_WITH_AS(caption_tokenizer::train(shapes_captions(), {.vocab_size = 64, .model_type = "word"}),
                       doctest::Contains("unigram or bpe"), vae::error);
  CHECK_THROWS_WITH_AS(a.decode({9999}), doctest::Contains("outside [0, "), vae::error);
}

#else
TEST_CASE("tokenizer: skipped without sentencepiece") {
  std::printf("SKIP: this build has no sentencepiece (apt-get install libsentencepiece-dev, reconfigure: "
              "VAE_WITH_SENTENCEPIECE)\n");
  std::fflush(stdout);
  std::exit(77);
}
#endif
