// Tests for dist/mpi_communicator.hpp, run as 2 MPI processes (mpiexec -n 2): every collective's result on every rank.
#include "vae/dist/mpi_communicator.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

namespace mpi_communicator_test {
vae::dist::mpi_communicator& world() {
  static vae::dist::mpi_communicator c(60.0);
  return c;
}
}  // namespace mpi_communicator_test

using mpi_communicator_test::world;

TEST_CASE("mpi_communicator: two ranks, each knows its own") {
  auto& c = world();
  REQUIRE_MESSAGE(c.size() == 2, "run this test as `mpiexec -n 2` (ctest does)");
  std::vector<std::int64_t> ranks(2, 0);
  ranks[static_cast<std::size_t>(c.rank())] = c.rank() + 10;
  c.allreduce_sum(ranks.data(), 2);
  CHECK(ranks == std::vector<std::int64_t>{10, 11});
}

TEST_CASE("mpi_communicator: allreduce_sum leaves the same sum on every rank (float, double, int64)") {
  auto& c = world();
  const float r = static_cast<float>(c.rank());
  std::vector<float> f{1.f + r, 0.25f * r, -3.f};
  c.allreduce_sum(f.data(), f.size());
  CHECK(f == std::vector<float>{3.f, 0.25f, -6.f});
  std::vector<double> d{0.1 * (c.rank() + 1)};
  c.allreduce_sum(d.data(), 1);
  CHECK(d[0] == 0.1 + 0.2);  // two ranks: a + b in either order, the same bits
  std::int64_t big = (std::int64_t{1} << 40) + c.rank();
  c.allreduce_sum(&big, 1);
  CHECK(big == (std::int64_t{1} << 41) + 1);
}

TEST_CASE("mpi_communicator: bucketed allreduce_mean equals the unbucketed one bit for bit") {
  auto& c = world();
  const std::size_t n = 1000;
  std::vector<float> one(n), bucketed(n), expected(n);
  for (std::size_t i = 0; i < n; ++i) {
    const float r0 = std::sin(static_cast<float>(i)), r1 = std::sin(static_cast<float>(2 * i));
    one[i] = bucketed[i] = c.rank() == 0 ? r0 : r1;
    expected[i] = (r0 + r1) * 0.5f;
  }
  vae::dist::allreduce_mean(c, std::span<float>(one));
  vae::dist::allreduce_mean(c, std::span<float>(bucketed), 37);
  CHECK(one == expected);
  CHECK(bucketed == expected);
}

TEST_CASE("mpi_communicator: broadcast from either root, allgather in rank order") {
  auto& c = world();
  for (int root : {0, 1}) {
    std::vector<float> f{static_cast<float>(c.rank()), 7.f};
    c.broadcast(f.data(), 2, root);
    CHECK(f == std::vector<float>{static_cast<float>(root), 7.f});
  }
  std::vector<std::uint8_t> b{static_cast<std::uint8_t>(c.rank() + 1)};
  c.broadcast(b.data(), 1, 1);
  CHECK(b[0] == 2);
  const float mine[2] = {static_cast<float>(c.rank()), 10.f + static_cast<float>(c.rank())};
  std::vector<float> all(4);
  c.allgather(mine, 2, all.data());
  CHECK(all == std::vector<float>{0.f, 10.f, 1.f, 11.f});
  CHECK_THROWS_WITH_AS(c.broadcast(b.data(), 1, 2), doctest::Contains("root 2 is not a rank of 2"), vae::error);
  c.barrier();
}

TEST_CASE("ranks_differing: names the ranks whose value differs from rank 0's") {
  auto& c = world();
  CHECK(vae::dist::ranks_differing(c, "model=conv-vae seed=3").empty());
  const auto d = vae::dist::ranks_differing(c, c.rank() == 0 ? "seed=0" : "seed=1");
  CHECK(d == std::vector<int>{1});
}

TEST_CASE("mpi_communicator: a rank that never comes makes the waiting rank throw after the timeout, not hang") {
  auto& w = world();
  vae::dist::mpi_communicator late(0.3);  // a second communicator (MPI_Comm_dup), left unusable on rank 0
  float x = 1.f;
  if (w.rank() == 0) {
    CHECK_THROWS_WITH_AS(late.allreduce_sum(&x, 1), doctest::Contains("did not complete within 0.3 s"), vae::error);
  } else {
    // Rank 1 comes only after rank 0 gave up, so that the collective still completes and MPI can finalize.
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    late.allreduce_sum(&x, 1);
  }
  w.barrier();
}
