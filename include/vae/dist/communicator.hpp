// Communicator: the collectives data-parallel training needs (allreduce, broadcast, allgather, barrier), its concept,
// a type-erased face for hooks inside models, and the single-process local_communicator.
#pragma once
#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "vae/core/error.hpp"

namespace vae::dist {

// The element types the collectives carry (MPI and NCCL both have them): gradients in float, statistics in double,
// counts in int64, raw bytes (configs, checksums) in uint8.
template <class T>
concept collective_type = std::same_as<T, float> || std::same_as<T, double> || std::same_as<T, std::int64_t> ||
                          std::same_as<T, std::uint8_t>;

// Contract: every rank calls the same collectives in the same order with the same counts (a collective is a meeting
// of all ranks; a rank that never comes makes the others fail with a vae::error after the communicator's timeout,
// never hang). allreduce_sum leaves the same sum on every rank; broadcast copies root's buffer to every rank;
// allgather concatenates each rank's `n` elements in rank order into recv[size()·n].
template <class C>
concept Communicator = requires(C& c, float* f, double* d, std::int64_t* i, std::uint8_t* b, const std::uint8_t* cb,
                                std::size_t n, int root) {
  { c.rank() } -> std::convertible_to<int>;
  { c.size() } -> std::convertible_to<int>;
  c.allreduce_sum(f, n);
  c.allreduce_sum(d, n);
  c.allreduce_sum(i, n);
  c.broadcast(f, n, root);
  c.broadcast(b, n, root);
  c.allgather(cb, n, b);
  c.barrier();
};

// The type-erased face of a host Communicator, for code that is not templated on one (the quantizers' EMA hook, the
// CLI's trainer). Buffers are host memory.
class collective {
 public:
  virtual ~collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual void allreduce_sum(float* data, std::size_t n) = 0;
  virtual void allreduce_sum(double* data, std::size_t n) = 0;
  virtual void allreduce_sum(std::int64_t* data, std::size_t n) = 0;
  virtual void broadcast(float* data, std::size_t n, int root) = 0;
  virtual void broadcast(double* data, std::size_t n, int root) = 0;
  virtual void broadcast(std::int64_t* data, std::size_t n, int root) = 0;
  virtual void broadcast(std::uint8_t* data, std::size_t n, int root) = 0;
  virtual void allgather(const float* send, std::size_t n, float* recv) = 0;
  virtual void allgather(const std::uint8_t* send, std::size_t n, std::uint8_t* recv) = 0;
  virtual void barrier() = 0;
  // A short description for logs: "mpi rank 1 of 4" or "local".
  virtual std::string describe() const = 0;
  // Whether collectives may be called from a second thread (one at a time, never two at once): what lets the
  // gradient reducer run its allreduces beside the backward pass.
  virtual bool allows_background_thread() const { return false; }
  // Whether the ranks run on more than one host. Between processes of one host an allreduce is memory copies by the
  // cores themselves; between hosts the network moves the bytes while the cores compute.
  virtual bool spans_hosts() const { return false; }
};

// One process: every collective is the identity (the sum over one rank, the broadcast from oneself).
class local_communicator final : public collective {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allreduce_sum(float*, std::size_t) override {}
  void allreduce_sum(double*, std::size_t) override {}
  void allreduce_sum(std::int64_t*, std::size_t) override {}
  void broadcast(float*, std::size_t, int root) override { check_root(root); }
  void broadcast(double*, std::size_t, int root) override { check_root(root); }
  void broadcast(std::int64_t*, std::size_t, int root) override { check_root(root); }
  void broadcast(std::uint8_t*, std::size_t, int root) override { check_root(root); }
  void allgather(const float* send, std::size_t n, float* recv) override { std::copy(send, send + n, recv); }
  void allgather(const std::uint8_t* send, std::size_t n, std::uint8_t* recv) override {
    std::copy(send, send + n, recv);
  }
  void barrier() override {}
  std::string describe() const override { return "local"; }

 private:
  static void check_root(int root) {
    check(root == 0, [&] { return cat("local_communicator::broadcast: root must be 0 (one rank), got ", root); });
  }
};

static_assert(Communicator<local_communicator>);

// Sum over ranks, divided by the world size: the data-parallel mean of per-rank means (each rank's gradient is the
// mean over its equal share of the global batch, so the result is the gradient of the global batch's mean loss).
// The flat buffer goes in buckets of at most `bucket` elements (0: one bucket), each one allreduce, as PyTorch DDP's
// gradient buckets: a bucket is one message, so the per-message latency is paid once per bucket, not per parameter.
template <class C>
  requires Communicator<C>
void allreduce_mean(C& comm, std::span<float> data, std::size_t bucket = 0) {
  const std::size_t n = data.size(), step = bucket > 0 ? bucket : (n > 0 ? n : 1);
  for (std::size_t at = 0; at < n; at += step) comm.allreduce_sum(data.data() + at, std::min(step, n - at));
  if (comm.size() == 1) return;
  const float inv = 1.0f / static_cast<float>(comm.size());
  // Multiplying by 1/W is exact for W a power of two (the worlds the equality tests use); otherwise one rounding.
  for (float& v : data) v *= inv;
}

// Whether `value` (its bytes) is the same on every rank; `what` names it in the error. Used at start for the run's
// config fields, so that a rank launched with another --seed or --model is refused before any step.
inline std::vector<int> ranks_differing(collective& comm, const std::string& value) {
  // Fixed-size digests (FNV-1a, 64 bits, plus the length), gathered from every rank and compared with rank 0's.
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char ch : value) {
    h ^= ch;
    h *= 1099511628211ULL;
  }
  std::uint8_t mine[16];
  const std::uint64_t len = value.size();
  for (int i = 0; i < 8; ++i) {
    mine[i] = static_cast<std::uint8_t>(h >> (8 * i));
    mine[8 + i] = static_cast<std::uint8_t>(len >> (8 * i));
  }
  std::vector<std::uint8_t> all(16 * static_cast<std::size_t>(comm.size()));
  comm.allgather(mine, 16, all.data());
  std::vector<int> differ;
  for (int r = 1; r < comm.size(); ++r)
    if (!std::equal(all.begin(), all.begin() + 16, all.begin() + 16 * r)) differ.push_back(r);
  return differ;
}

}  // namespace vae::dist
