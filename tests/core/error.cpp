// vae::error and vae::check: the message carries the caller's file:line; lazy messages are built only on failure.
#include "vae/core/error.hpp"

#include <string>

#include <doctest/doctest.h>

#include "vae/core/shape.hpp"

using namespace vae;

TEST_CASE("check throws vae::error with the caller's file and line") {
  int line = 0;
  try {
    line = __LINE__ + 1;
    check(false, "something went wrong");
    FAIL("check(false) did not throw");
  } catch (const vae::error& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find("something went wrong") == 0);
    CHECK(what.find("error.cpp:" + std::to_string(line) + "]") != std::string::npos);
  }
}

TEST_CASE("lazy message: built only on failure, and it carries file:line too") {
  int calls = 0;
  auto message = [&] {
    ++calls;
    return cat("expected ", 3, " got ", 4.5);
  };
  check(true, message);
  CHECK(calls == 0);
  int line = 0;
  try {
    line = __LINE__ + 1;
    check(false, message);
    FAIL("check(false) did not throw");
  } catch (const vae::error& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(calls == 1);
    CHECK(what.find("expected 3 got 4.5") == 0);
    CHECK(what.find("error.cpp:" + std::to_string(line) + "]") != std::string::npos);
  }
}

TEST_CASE("vae::error is a std::runtime_error") {
  CHECK_THROWS_AS(check(false, "x"), std::runtime_error);
  CHECK_NOTHROW(check(true, "x"));
}

TEST_CASE("errors from library code point at the library header") {
  try {
    shape s{-1};
    FAIL("negative dimension accepted");
  } catch (const vae::error& e) {
    CHECK(std::string(e.what()).find("shape.hpp:") != std::string::npos);
  }
}

TEST_CASE("cat concatenates streamable values") {
  CHECK(cat("a", 1, '-', 2.5, shape{1, 2}) == "a1-2.5[1, 2]");
}

TEST_CASE("message() is the sentence without the location; what() adds [file:line]") {
  try {
    vae::detail::throw_error("data 'x.npy': element [0] is nan");
    FAIL("throw_error did not throw");
  } catch (const vae::error& e) {
    CHECK(e.message() == "data 'x.npy': element [0] is nan");
    const std::string what = e.what();
    CHECK(what.find("data 'x.npy': element [0] is nan [") == 0);
    CHECK(what.find("error.cpp:") != std::string::npos);
  }
  const vae::error plain("no location");
  CHECK(plain.message() == "no location");
  CHECK(std::string(plain.what()) == "no location");
}
