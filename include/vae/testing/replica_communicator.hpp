// replica_communicator: a one-process stand-in for W ranks that all hold this process's data, for testing the
// data-parallel paths of layers (BatchNorm2d's global statistics) without launching processes.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "vae/core/error.hpp"
#include "vae/dist/communicator.hpp"

namespace vae::testing {

// size() = W; every collective returns what it would if each of the W ranks had called it with this process's
// buffers: allreduce_sum multiplies by W, broadcast keeps the buffer, allgather repeats it W times. So a layer on
// input x with this communicator must act as one process on W copies of x stacked along the batch. Counts the
// allreduce calls (a test can see that a hook reached a layer). A sum times W is exact for W a power of two.
class replica_communicator final : public dist::collective {
 public:
  explicit replica_communicator(int size) : size_(size) {
    check(size >= 1, [&] { return cat("replica_communicator: size must be at least 1, got ", size); });
  }
  int rank() const override { return 0; }
  int size() const override { return size_; }
  void allreduce_sum(float* data, std::size_t n) override { times_size(data, n); }
  void allreduce_sum(double* data, std::size_t n) override { times_size(data, n); }
  void allreduce_sum(std::int64_t* data, std::size_t n) override { times_size(data, n); }
  void broadcast(float*, std::size_t, int root) override { check_root(root); }
  void broadcast(double*, std::size_t, int root) override { check_root(root); }
  void broadcast(std::int64_t*, std::size_t, int root) override { check_root(root); }
  void broadcast(std::uint8_t*, std::size_t, int root) override { check_root(root); }
  void allgather(const float* send, std::size_t n, float* recv) override { repeat(send, n, recv); }
  void allgather(const std::uint8_t* send, std::size_t n, std::uint8_t* recv) override { repeat(send, n, recv); }
  void barrier() override {}
  std::string describe() const override { return cat("replica x", size_); }

  std::int64_t allreduce_calls() const { return allreduce_calls_; }

 private:
  template <class V>
  void times_size(V* data, std::size_t n) {
    ++allreduce_calls_;
    for (std::size_t i = 0; i < n; ++i) data[i] *= static_cast<V>(size_);
  }
  template <class V>
  void repeat(const V* send, std::size_t n, V* recv) {
    for (int r = 0; r < size_; ++r) std::copy(send, send + n, recv + static_cast<std::size_t>(r) * n);
  }
  void check_root(int root) const {
    check(root >= 0 && root < size_,
          [&] { return cat("replica_communicator::broadcast: root must be in [0, ", size_, "), got ", root); });
  }

  int size_;
  std::int64_t allreduce_calls_ = 0;
};

static_assert(dist::Communicator<replica_communicator>);

}  // namespace vae::testing
