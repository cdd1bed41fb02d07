// Captions for image datasets: Fashion-MNIST's class names through templates, and caption files beside images (.txt, captions.jsonl).
//
// fashion-mnist-captions: label k becomes one of fashion_mnist_templates with the class's noun, "a photo of a
// sneaker", "an ankle boot"; which template is a pure function of (seed, split, index), so a run's captions are
// reproducible. fashion_mnist_label_of reads the class back from a prompt.
// folder-captions:DIR: DALLE-pytorch's layout, an image and a text file of the same stem beside it (cat.png +
// cat.txt; the first non-empty line is the caption, where DALLE-pytorch draws one line at random), or a
// DIR/captions.jsonl with one {"file": NAME, "caption": TEXT} object a line (NAME relative to DIR). Missing or empty
// caption files and missing images are refused, naming them.
#pragma once
#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vae/core/error.hpp"
#include "vae/core/rng.hpp"

namespace vae::data {

// Fashion-MNIST's ten classes (the dataset's README), as nouns a caption can use; label k is entry k.
inline constexpr std::array<const char*, 10> fashion_mnist_class_nouns = {
    "t-shirt", "pair of trousers", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"};

// "{}" stands for the class noun with its article ("a sneaker", "an ankle boot").
inline constexpr std::array<const char*, 6> fashion_mnist_templates = {
    "{}", "a photo of {}", "a picture of {}", "an image of {}", "a black and white photo of {}", "a small grey photo of {}"};

// "a sneaker", "an ankle boot".
inline std::string with_article(std::string_view noun) {
  const char c = noun.empty() ? 'x' : noun[0];
  const bool vowel = c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
  return cat(vowel ? "an " : "a ", noun);
}

// The caption of class `label` through template `template_index`.
inline std::string fashion_mnist_caption(int label, std::size_t template_index) {
  check(label >= 0 && label < 10, [&] { return cat("fashion_mnist_caption: label must be 0..9, got ", label); });
  check(template_index < fashion_mnist_templates.size(), [&] {
    return cat("fashion_mnist_caption: template index must be below ", fashion_mnist_templates.size(), ", got ", template_index);
  });
  const std::string t = fashion_mnist_templates[template_index];
  const auto at = t.find("{}");
  return t.substr(0, at) + with_article(fashion_mnist_class_nouns[static_cast<std::size_t>(label)]) + t.substr(at + 2);
}

// Captions for `labels`: image i gets the template drawn by draw i of the stream (seed, stream).
inline std::vector<std::string> fashion_mnist_captions(const std::vector<std::int32_t>& labels, std::uint64_t seed,
                                                       std::uint64_t stream) {
  std::vector<std::string> out;
  out.reserve(labels.size());
  const std::uint64_t offset = stream << 40;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const auto t = static_cast<std::size_t>(counter_uniform(seed, offset, i) * fashion_mnist_templates.size());
    out.push_back(fashion_mnist_caption(labels[i], std::min(t, fashion_mnist_templates.size() - 1)));
  }
  return out;
}

// The class a prompt names: the class whose key word ("t-shirt", "trousers", ..., "boot") comes first in it as a
// whole word, case-insensitive; none when it names no class.
inline std::optional<int> fashion_mnist_label_of(std::string_view prompt) {
  constexpr std::array<const char*, 10> key = {"t-shirt", "trousers", "pullover", "dress", "coat",
                                               "sandal",  "shirt",    "sneaker",  "bag",   "boot"};
  std::string p = " ";
  for (char c : prompt)
    p += std::isalnum(static_cast<unsigned char>(c)) || c == '-' ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : ' ';
  p += ' ';
  std::optional<int> best;
  std::size_t best_at = std::string::npos;
  for (std::size_t k = 0; k < key.size(); ++k) {
    const auto at = p.find(cat(" ", key[k], " "));
    if (at < best_at) best_at = at, best = static_cast<int>(k);
  }
  return best;
}

// One image file and its caption.
struct captioned_file {
  std::string file;
  std::string caption;
};

// Parses captions.jsonl text: one JSON object a line with string members "file" and "caption" (other members are
// ignored; blank lines are skipped). Errors name `origin` and the line.
inline std::vector<captioned_file> parse_captions_jsonl(std::string_view text, const std::string& origin) {
  std::vector<captioned_file> out;
  std::size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    const auto end = std::min(text.find('\n', pos), text.size());
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    nlohmann::json j = nlohmann::json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
    check(!j.is_discarded() && j.is_object(), [&] {
      return cat("'", origin, "' line ", line_no, ": expected a JSON object {\"file\": ..., \"caption\": ...}");
    });
    const auto file = j.find("file"), caption = j.find("caption");
    check(file != j.end() && file->is_string() && caption != j.end() && caption->is_string(), [&] {
      return cat("'", origin, "' line ", line_no, ": needs string members \"file\" and \"caption\"");
    });
    out.push_back({file->get<std::string>(), caption->get<std::string>()});
    check(!out.back().file.empty(), [&] { return cat("'", origin, "' line ", line_no, ": \"file\" is empty"); });
  }
  return out;
}

// The first non-empty line of a caption text file's contents, trimmed; empty when there is none.
inline std::string first_caption_line(std::string_view text) {
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const auto end = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, end - pos);
    const auto a = line.find_first_not_of(" \t\r"), b = line.find_last_not_of(" \t\r");
    if (a != std::string_view::npos) return std::string(line.substr(a, b - a + 1));
    if (end == text.size()) break;
    pos = end + 1;
  }
  return "";
}

namespace detail {
inline std::string read_text_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  check(static_cast<bool>(in), [&] { return cat("cannot open '", p.string(), "'"); });
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// "a.png, b.png, ... (and 7 more)" for the first 10 names.
inline std::string name_some(const std::vector<std::string>& names) {
  std::string s;
  for (std::size_t i = 0; i < std::min<std::size_t>(names.size(), 10); ++i) s += cat(i ? ", " : "", names[i]);
  if (names.size() > 10) s += cat(" (and ", names.size() - 10, " more)");
  return s;
}

// The image files load_dataset reads (by extension, any case).
inline bool is_image_file(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}
}  // namespace detail

// The captioned images of a folder-captions DIR (see the top of this header), sorted by file name; paths are full.
inline std::vector<captioned_file> list_captioned_folder(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  check(fs::is_directory(dir, ec), [&] { return cat("folder-captions:", dir, ": not a directory"); });
  std::vector<captioned_file> out;
  const fs::path jsonl = fs::path(dir) / "captions.jsonl";
  if (fs::is_regular_file(jsonl, ec)) {
    out = parse_captions_jsonl(detail::read_text_file(jsonl), jsonl.string());
    std::vector<std::string> missing, empty;
    for (auto& f : out) {
      if (f.caption.find_first_not_of(" \t\r\n") == std::string::npos) empty.push_back(f.file);
      f.file = (fs::path(dir) / f.file).string();
      if (!fs::is_regular_file(f.file, ec)) missing.push_back(f.file);
    }
    check(missing.empty(), [&] {
      return cat("folder-captions:", dir, ": captions.jsonl names ", missing.size(), " image(s) that do not exist: ",
                 detail::name_some(missing));
    });
    check(empty.empty(), [&] {
      return cat("folder-captions:", dir, ": captions.jsonl gives ", empty.size(), " image(s) an empty caption: ",
                 detail::name_some(empty));
    });
  } else {
    std::vector<fs::path> images;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file() && detail::is_image_file(e.path())) images.push_back(e.path());
    std::sort(images.begin(), images.end());
    std::vector<std::string> missing, empty;
    for (const auto& p : images) {
      fs::path txt = p;
      txt.replace_extension(".txt");
      if (!fs::is_regular_file(txt, ec)) {
        missing.push_back(p.filename().string());
        continue;
      }
      auto caption = first_caption_line(detail::read_text_file(txt));
      if (caption.empty()) empty.push_back(txt.filename().string());
      out.push_back({p.string(), std::move(caption)});
    }
    check(missing.empty(), [&] {
      return cat("folder-captions:", dir, ": ", missing.size(), " image(s) have no caption file beside them (",
                 "NAME.txt for NAME.png, or a captions.jsonl of {\"file\", \"caption\"} in the folder): ",
                 detail::name_some(missing));
    });
    check(empty.empty(), [&] {
      return cat("folder-captions:", dir, ": ", empty.size(), " caption file(s) are empty: ", detail::name_some(empty));
    });
  }
  check(!out.empty(), [&] {
    return cat("folder-captions:", dir, ": no .png/.jpg/.jpeg/.bmp images with captions in it");
  });
  std::stable_sort(out.begin(), out.end(), [](const captioned_file& a, const captioned_file& b) { return a.file < b.file; });
  return out;
}

}  // namespace vae::data
