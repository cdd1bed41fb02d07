// replica_communicator: each collective as W ranks holding this process's buffers would see it; bad sizes refused.
#include "vae/testing/replica_communicator.hpp"

#include <vector>

#include "../test_support.hpp"

using namespace vae;

TEST_CASE("replica_communicator: allreduce multiplies by the size, allgather repeats, broadcast keeps; counts calls") {
  testing::replica_communicator comm(4);
  CHECK(comm.size() == 4);
  CHECK(comm.rank() == 0);
  std::vector<double> d{0.5, -1.25};
  std::vector<float> f{3.f};
  std::vector<std::int64_t> i{7};
  comm.allreduce_sum(d.data(), d.size());
  comm.allreduce_sum(f.data(), f.size());
  comm.allreduce_sum(i.data(), i.size());
  CHECK(d == std::vector<double>{2.0, -5.0});
  CHECK(f == std::vector<float>{12.f});
  CHECK(i == std::vector<std::int64_t>{28});
  CHECK(comm.allreduce_calls() == 3);
  const float send[2] = {1.f, 2.f};
  std::vector<float> recv(8);
  comm.allgather(send, 2, recv.data());
  CHECK(recv == std::vector<float>{1, 2, 1, 2, 1, 2, 1, 2});
  comm.broadcast(f.data(), 1, 3);
  CHECK(f[0] == 12.f);
  CHECK_THROWS_WITH_AS(comm.broadcast(f.data(), 1, 4), doctest::Contains("root must be in [0, 4), got 4"), vae::error);
  CHECK_THROWS_WITH_AS(testing::replica_communicator(0), doctest::Contains("size must be at least 1, got 0"),
                       vae::error);
}
