// Tests for dist/communicator.hpp: the single-process communicator and the bucketed mean over any Communicator.
#include "vae/dist/communicator.hpp"

#include <doctest/doctest.h>

#include <numeric>
#include <vector>

namespace communicator_test {

// A fake two-rank world seen from rank 0: the other rank's contribution is a fixed buffer, so allreduce_mean's
// bucketing and scaling can be checked without MPI.
struct two_rank_fake {
  std::vector<float> other;
  std::vector<std::size_t> calls;  // the element count of each allreduce (one per bucket)
  std::size_t offset = 0;
  int rank() const { return 0; }
  int size() const { return 2; }
  void allreduce_sum(float* d, std::size_t n) {
    calls.push_back(n);
    for (std::size_t i = 0; i < n; ++i) d[i] += other[offset + i];
    offset += n;
  }
  void allreduce_sum(double*, std::size_t) {}
  void allreduce_sum(std::int64_t*, std::size_t) {}
  void broadcast(float*, std::size_t, int) {}
  void broadcast(std::uint8_t*, std::size_t, int) {}
  void allgather(const std::uint8_t*, std::size_t, std::uint8_t*) {}
  void barrier() {}
};

}  // namespace communicator_test

TEST_CASE("local_communicator: every collective is the identity on one rank") {
  vae::dist::local_communicator c;
  CHECK(c.rank() == 0);
  CHECK(c.size() == 1);
  std::vector<float> f{1.5f, -2.f};
  c.allreduce_sum(f.data(), f.size());
  CHECK(f == std::vector<float>{1.5f, -2.f});
  std::vector<std::uint8_t> in{1, 2, 3}, out(3);
  c.allgather(in.data(), 3, out.data());
  CHECK(out == in);
  CHECK_THROWS_WITH_AS(c.broadcast(f.data(), 2, 1), doctest::Contains("root must be 0"), vae::error);
  CHECK(vae::dist::ranks_differing(c, "anything").empty());
}

TEST_CASE("allreduce_mean: one allreduce per bucket over the whole buffer, then divided by the world size") {
  static_assert(vae::dist::Communicator<communicator_test::two_rank_fake>);
  for (std::size_t bucket : {std::size_t{0}, std::size_t{1}, std::size_t{4}, std::size_t{10}, std::size_t{64}}) {
    communicator_test::two_rank_fake c;
    std::vector<float> mine(10), expected(10);
    c.other.resize(10);
    for (int i = 0; i < 10; ++i) {
      mine[i] = static_cast<float>(i);
      c.other[i] = static_cast<float>(3 * i + 1);
      expected[i] = (static_cast<float>(i) + static_cast<float>(3 * i + 1)) * 0.5f;
    }
    vae::dist::allreduce_mean(c, std::span<float>(mine), bucket);
    CHECK(mine == expected);
    const std::size_t want_calls = bucket == 0 ? 1 : (10 + bucket - 1) / bucket;
    CHECK(c.calls.size() == want_calls);
    CHECK(std::accumulate(c.calls.begin(), c.calls.end(), std::size_t{0}) == 10);
  }
}
