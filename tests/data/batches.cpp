// Tests for data/batches.hpp: batch_sampler epochs (every index once, seeded, reshuffled, drop_last) and gather.
#include "vae/data/batches.hpp"

#include <doctest/doctest.h>

#include <set>
#include <span>
#include <vector>

TEST_CASE("batch_sampler: every index once per epoch, deterministic, reshuffled per epoch") {
  vae::data::batch_sampler s(10, 4, 42);
  CHECK(s.batches_per_epoch() == 3);
  std::vector<std::int64_t> idx, epoch0, epoch1;
  std::vector<std::size_t> sizes;
  while (s.next(idx)) {
    sizes.push_back(idx.size());
    epoch0.insert(epoch0.end(), idx.begin(), idx.end());
  }
  CHECK(idx.empty());
  CHECK(sizes == std::vector<std::size_t>{4, 4, 2});
  CHECK(std::set<std::int64_t>(epoch0.begin(), epoch0.end()).size() == 10);
  CHECK(*std::max_element(epoch0.begin(), epoch0.end()) == 9);
  CHECK_FALSE(s.next(idx));
  s.new_epoch();
  CHECK(s.epoch() == 1);
  while (s.next(idx)) epoch1.insert(epoch1.end(), idx.begin(), idx.end());
  CHECK(std::set<std::int64_t>(epoch1.begin(), epoch1.end()).size() == 10);
  CHECK(epoch1 != epoch0);
  vae::data::batch_sampler again(10, 4, 42);
  std::vector<std::int64_t> replay;
  while (again.next(idx)) replay.insert(replay.end(), idx.begin(), idx.end());
  CHECK(replay == epoch0);

  vae::data::batch_sampler drop(10, 4, 1, /*drop_last=*/true);
  CHECK(drop.batches_per_epoch() == 2);
  int batches = 0;
  while (drop.next(idx)) {
    CHECK(idx.size() == 4);
    ++batches;
  }
  CHECK(batches == 2);
  CHECK_THROWS_WITH_AS(vae::data::batch_sampler(5, 0, 1), doctest::Contains("batch > 0"), vae::error);
}

TEST_CASE("gather copies rows, reuses dst's capacity, and rejects bad indices") {
  vae::tensor<float> src(vae::shape{5, 1, 2, 2});
  for (std::int64_t i = 0; i < src.numel(); ++i) src[i] = static_cast<float>(i);
  vae::tensor<float> dst;
  std::vector<std::int64_t> idx = {4, 0, 4};
  vae::data::gather(src, idx, dst);
  REQUIRE(dst.shape() == vae::shape{3, 1, 2, 2});
  CHECK(dst[0] == 16.f);
  CHECK(dst[4] == 0.f);
  CHECK(dst[11] == 19.f);
  const float* before = dst.data();
  idx = {1, 2};
  vae::data::gather(src, std::span<const std::int64_t>(idx), dst);
  CHECK(dst.data() == before);
  CHECK(dst.shape() == vae::shape{2, 1, 2, 2});
  CHECK(dst[4] == 8.f);
  idx = {5};
  CHECK_THROWS_WITH_AS(vae::data::gather(src, idx, dst), doctest::Contains("index 5 is outside [0, 5)"), vae::error);
  idx = {-1};
  CHECK_THROWS_AS(vae::data::gather(src, idx, dst), vae::error);
}
