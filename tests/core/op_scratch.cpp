// op_scratch: one buffer per thread and element type, kept when a later request is smaller, grown when larger.
#include "vae/core/op_scratch.hpp"

#include <cstdint>
#include <thread>

#include <doctest/doctest.h>

using namespace vae;

TEST_CASE("op_scratch: a smaller request reuses the thread's buffer; a larger one is fully writable") {
  float* first = op_scratch<float, cpu>(1000);
  REQUIRE(first != nullptr);
  CHECK(op_scratch<float, cpu>(10) == first);
  CHECK(op_scratch<float, cpu>(1000) == first);
  constexpr std::int64_t big = 1 << 20;
  float* grown = op_scratch<float, cpu>(big);
  for (std::int64_t i = 0; i < big; ++i) grown[i] = static_cast<float>(i);  // out of bounds shows under the sanitizers
  CHECK(grown[big - 1] == static_cast<float>(big - 1));
  CHECK(op_scratch<float, cpu>(big / 2) == grown);
  // Another element type has its own buffer.
  CHECK(static_cast<void*>(op_scratch<double, cpu>(16)) != static_cast<void*>(grown));
}

TEST_CASE("op_scratch: another thread gets its own buffer") {
  float* here = op_scratch<float, cpu>(256);
  float* there = nullptr;
  std::thread t([&] {
    there = op_scratch<float, cpu>(256);
    for (int i = 0; i < 256; ++i) there[i] = 1.0f;
  });
  t.join();
  REQUIRE(there != nullptr);
  CHECK(there != here);
}
