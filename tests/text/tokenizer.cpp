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

TEST_CASE("tokenizer: unknown words become one <unk> each and are named in a warning; unseen characters too") {
  const auto& t = shapes_tokenizer();
  CHECK(t.known_words().size() == 20);  // 7 colours, 3 shapes, 2 sizes, a, above, below, to, the, left, right, of
  std::vector<std::string> warnings;
  auto sink = [&](const std::string& w) { warnings.push_back(w); };
  const auto e = t.encode("a purple Circle.", 16, sink);
  REQUIRE(e.length == 6);  // <bos> a <unk> circle <unk> <eos>: "Circle." is looked up as "circle" and keeps its pieces
  CHECK(e.ids[2] == caption_tokenizer::unk_id);
  CHECK(e.ids[3] == t.pieces("circle")[0]);
  CHECK(e.ids[4] == caption_tokenizer::unk_id);  // '.' never occurs in the shapes captions
  CHECK(e.unknown == 2);
  CHECK(e.unknown_words == std::vector<std::string>{"purple"});
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("2 <unk> token(s): word(s) not in the training captions 'purple'; 1 piece(s) with characters "
                         "never seen in training") != std::string::npos);
  const auto decoded = t.decode(t.encode("a purple circle", 16, sink).ids);
  CHECK(decoded.find("⁇") != std::string::npos);
  CHECK(decoded.find("circle") != std::string::npos);
  CHECK(t.encode("a red circle", 16).ids == t.encode("A Red circle", 16).ids);
  // with the known words, unknown words and unseen characters alike end as <unk>, every one reported
  warnings.clear();
  const auto c = t.encode("a tiny circle #7", 16, sink);
  CHECK(c.unknown == 2);
  CHECK(c.unknown_words == std::vector<std::string>{"tiny", "#7"});
  CHECK(std::count(c.ids.begin(), c.ids.end(), caption_tokenizer::unk_id) == 2);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("'tiny', '#7'") != std::string::npos);
  // every known caption has no unknown word and no warning
  warnings.clear();
  for (std::size_t i = 0; i < 200; ++i) CHECK(t.encode(shapes_captions()[i], 32, sink).unknown == 0);
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
  CHECK(std::filesystem::exists(dir / "tokenizer.words"));
  const auto b = caption_tokenizer::load(dir / "tokenizer.model");
  CHECK(b.serialized() == a.serialized());
  CHECK(b.known_words() == a.known_words());
  CHECK(b.encode("a purple circle", 8).unknown_words == std::vector<std::string>{"purple"});
  // without its .words file a model spells unseen words in known pieces (and unseen characters still become <unk>)
  std::filesystem::remove(dir / "tokenizer.words");
  const auto bare = caption_tokenizer::load(dir / "tokenizer.model");
  CHECK(bare.known_words().empty());
  const auto spelled = bare.encode("a teal circle", 16);
  CHECK(spelled.unknown == 0);
  CHECK(bare.decode(spelled.ids) == "a teal circle");
  CHECK(bare.encode("a circle #7", 16, [](const std::string&) {}).unknown >= 1);
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
