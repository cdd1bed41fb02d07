// Tests for text/words.hpp: splitting on any white space, words kept as written.
#include "vae/text/words.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

TEST_CASE("split_words: any run of white space separates; words keep their case and punctuation") {
  using v = std::vector<std::string>;
  CHECK(vae::text::split_words("a red circle") == v{"a", "red", "circle"});
  CHECK(vae::text::split_words("  A\tRed\r\n circle.  ") == v{"A", "Red", "circle."});
  CHECK(vae::text::split_words("").empty());
  CHECK(vae::text::split_words(" \n\t ").empty());
  CHECK(vae::text::split_words("one") == v{"one"});
}
