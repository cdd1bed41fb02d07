// to_memory_format op: [n, c, p] ↔ [n, p, c] element for element against the tests' own loops, a copy otherwise.
#include <vector>

#include "../test_support.hpp"
#include "vae/ops/to_memory_format.hpp"

using namespace vae;

TEST_CASE("to_memory_format moves every element to its place, both ways, for sizes on and off the AVX tiles") {
  const std::int64_t sizes[][3] = {{2, 16, 49}, {3, 5, 7}, {1, 128, 196}, {2, 1, 9}, {2, 9, 1}};
  for (const auto& sz : sizes) {
    const std::int64_t n = sz[0], c = sz[1], p = sz[2];
    CAPTURE(c);
    CAPTURE(p);
    std::vector<float> first(static_cast<std::size_t>(n * c * p)), last(first.size()), back(first.size());
    for (std::size_t i = 0; i < first.size(); ++i) first[i] = static_cast<float>(i) * 0.5f - 3.f;
    ops::to_memory_format<cpu>(n, c, p, memory_format::channels_first, memory_format::channels_last, first.data(),
                               last.data());
    std::int64_t wrong = 0;
    for (std::int64_t b = 0; b < n; ++b)
      for (std::int64_t ch = 0; ch < c; ++ch)
        for (std::int64_t t = 0; t < p; ++t) wrong += last[(b * p + t) * c + ch] != first[(b * c + ch) * p + t];
    CHECK(wrong == 0);
    ops::to_memory_format<cpu>(n, c, p, memory_format::channels_last, memory_format::channels_first, last.data(),
                               back.data());
    CHECK(back == first);
    std::vector<float> same(first.size());
    ops::to_memory_format<cpu>(n, c, p, memory_format::channels_last, memory_format::channels_last, last.data(),
                               same.data());
    CHECK(same == last);
  }
}
