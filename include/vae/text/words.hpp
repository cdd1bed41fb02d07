// Words of a caption: white-space splitting shared by the shapes caption grammar and the tokenizer's word lookup.
#pragma once
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

namespace vae::text {

// The white-space separated words of `text`, as written (no case change, punctuation kept).
inline std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> out;
  std::string w;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!w.empty()) out.push_back(std::move(w));
      w.clear();
    } else {
      w += c;
    }
  }
  if (!w.empty()) out.push_back(std::move(w));
  return out;
}

}  // namespace vae::text
