// Fuzz target: caption text a user hands the tool: captions.jsonl lines, a NAME.txt caption file, a shapes prompt.
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "vae/data/captions.hpp"
#include "vae/data/shapes.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  vae::fuzz::expect_only_vae_errors([&] {
    for (const auto& f : vae::data::parse_captions_jsonl(text, "fuzz.jsonl"))
      vae::fuzz::require(!f.file.empty(), "captions.jsonl entry with an empty file accepted");
  });
  const auto line = vae::data::first_caption_line(text);
  vae::fuzz::require(line.size() <= text.size(), "a caption line longer than its file");
  vae::fuzz::require(line.empty() || (line.front() != ' ' && line.back() != ' '), "caption line not trimmed");
  (void)vae::data::fashion_mnist_label_of(text);
  vae::fuzz::expect_only_vae_errors([&] {
    // A prompt the grammar accepts must print as a caption that parses back to the same attributes.
    const auto c = vae::data::parse_caption(text);
    vae::fuzz::require(vae::data::parse_caption(vae::data::caption_text(c)) == c, "caption_text does not parse back");
  });
  return 0;
}
