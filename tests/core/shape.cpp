// shape: rank, element count, comparison, printing, and the errors for bad dimensions.
#include "vae/core/shape.hpp"

#include <sstream>

#include <doctest/doctest.h>

using namespace vae;

TEST_CASE("shape basics") {
  const shape s{2, 3, 4};
  CHECK(s.rank() == 3);
  CHECK(s.numel() == 24);
  CHECK(s[0] == 2);
  CHECK(s[2] == 4);
  CHECK(s.to_vector() == std::vector<std::int64_t>{2, 3, 4});
  CHECK(shape(std::vector<std::int64_t>{2, 3, 4}) == s);
  std::int64_t prod = 1;
  for (auto d : s) prod *= d;
  CHECK(prod == 24);
}

TEST_CASE("scalar and empty shapes") {
  const shape scalar{};
  CHECK(scalar.rank() == 0);
  CHECK(scalar.numel() == 1);
  CHECK(shape{0, 5}.numel() == 0);
  CHECK(shape{}.str() == "[]");
}

TEST_CASE("equality compares rank and every dimension") {
  CHECK(shape{2, 3} == shape{2, 3});
  CHECK_FALSE(shape{2, 3} == shape{3, 2});
  CHECK_FALSE(shape{6} == shape{2, 3});
  CHECK_FALSE(shape{2, 3} == shape{2, 3, 1});
}

TEST_CASE("printing") {
  std::ostringstream out;
  out << shape{1, 28, 28};
  CHECK(out.str() == "[1, 28, 28]");
  CHECK(shape{7}.str() == "[7]");
}

TEST_CASE("mutable indexing") {
  shape s{4, 5};
  s[1] = 9;
  CHECK(s == shape{4, 9});
}

TEST_CASE("rank up to 6 is accepted, above is an error") {
  CHECK(shape{1, 2, 3, 4, 5, 6}.numel() == 720);
  CHECK_THROWS_WITH_AS(shape({1, 2, 3, 4, 5, 6, 7}), doctest::Contains("rank above 6"), vae::error);
}

TEST_CASE("negative dimensions are an error naming the value") {
  CHECK_THROWS_WITH_AS(shape({3, -2}), doctest::Contains("negative dimension -2"), vae::error);
}
