// mpi_communicator: the Communicator over MPI (Open MPI), between processes and hosts, with a timeout on every wait.
#pragma once
#include <mpi.h>

#include <chrono>
#include <cstdlib>
#include <cstdint>
#include <limits>
#include <mutex>
#include <string>
#include <thread>

#include "vae/core/error.hpp"
#include "vae/dist/communicator.hpp"

namespace vae::dist {

namespace detail {
template <class T>
MPI_Datatype mpi_type() {
  if constexpr (std::same_as<T, float>) return MPI_FLOAT;
  else if constexpr (std::same_as<T, double>) return MPI_DOUBLE;
  else if constexpr (std::same_as<T, std::int64_t>) return MPI_INT64_T;
  else return MPI_UINT8_T;
}
inline std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  return std::string(text, static_cast<std::size_t>(len));
}
}  // namespace detail

// Every collective is MPI's nonblocking one (MPI_Iallreduce, MPI_Ibcast, ...) completed by a polling wait with a
// deadline: MPI's blocking calls wait forever for a rank that stopped without dying (a stopped or stuck process is
// not noticed by the launcher), and a rank that waits forever is what a user cannot tell from a slow run. Past the
// timeout the wait throws a vae::error naming the collective, the rank and the timeout; the program is then expected
// to call abort() (the CLI does), which ends every rank of the job, since a collective left pending cannot be
// finished or cancelled.
//
// The sum of allreduce is MPI's: with 2 ranks a + b = b + a, so both ranks hold the same bits; for more ranks Open MPI's
// reduction algorithms combine in an order that is the same on every rank for a commutative operation (recursive
// doubling pairs, ring segments reduced once then passed on), which the run checks at each checkpoint (the CLI's
// parameter digest) rather than assumes.
class mpi_communicator final : public collective {
 public:
  // Initialises MPI when nobody has (and then finalizes it in the destructor). timeout_seconds: how long any one
  // collective may wait for the other ranks.
  explicit mpi_communicator(double timeout_seconds = 300.0) : timeout_(timeout_seconds) {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
      int provided = 0;
      const int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
      check(rc == MPI_SUCCESS, [&] { return cat("MPI_Init_thread failed: ", detail::mpi_error_text(rc)); });
      owns_ = true;
    }
    int level = MPI_THREAD_SINGLE;
    MPI_Query_thread(&level);
    serialized_ = level >= MPI_THREAD_SERIALIZED;
    MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);  // errors come back as codes, thrown as vae::error
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    MPI_Comm node;
    if (MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
      int on_node = 0;
      MPI_Comm_size(node, &on_node);
      MPI_Comm_free(&node);
      // Every rank computes the same answer only if all hosts hold as many ranks; take the world's maximum.
      int spans = on_node < size_ ? 1 : 0;
      MPI_Allreduce(MPI_IN_PLACE, &spans, 1, MPI_INT, MPI_MAX, comm_);
      spans_hosts_ = spans != 0;
    }
  }
  mpi_communicator(const mpi_communicator&) = delete;
  mpi_communicator& operator=(const mpi_communicator&) = delete;
  ~mpi_communicator() override {
    if (failed_) return;  // a pending collective cannot be finished: the program aborts (abort()) or exits
    MPI_Comm_free(&comm_);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owns_ && !finalized) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  double timeout_seconds() const { return timeout_; }
  void set_timeout_seconds(double t) { timeout_ = t; }
  MPI_Comm native() const { return comm_; }

  void allreduce_sum(float* d, std::size_t n) override { allreduce(d, n); }
  void allreduce_sum(double* d, std::size_t n) override { allreduce(d, n); }
  void allreduce_sum(std::int64_t* d, std::size_t n) override { allreduce(d, n); }
  void broadcast(float* d, std::size_t n, int root) override { bcast(d, n, root); }
  void broadcast(double* d, std::size_t n, int root) override { bcast(d, n, root); }
  void broadcast(std::int64_t* d, std::size_t n, int root) override { bcast(d, n, root); }
  void broadcast(std::uint8_t* d, std::size_t n, int root) override { bcast(d, n, root); }
  void allgather(const float* s, std::size_t n, float* r) override { gather(s, n, r); }
  void allgather(const std::uint8_t* s, std::size_t n, std::uint8_t* r) override { gather(s, n, r); }
  void barrier() override {
    std::lock_guard<std::mutex> lock(calls_);
    MPI_Request req;
    call(MPI_Ibarrier(comm_, &req), "barrier");
    wait(req, "barrier", 0);
  }
  std::string describe() const override { return cat("mpi rank ", rank_, " of ", size_); }
  // MPI_THREAD_SERIALIZED or more: every collective here holds a lock for its whole call, so two threads never call
  // MPI at once.
  bool allows_background_thread() const override { return serialized_; }
  bool spans_hosts() const override { return spans_hosts_; }

  // Ends every process of the job (MPI_Abort): the way out after an error on one rank or a timed-out collective.
  [[noreturn]] void abort(int code) const {
    MPI_Abort(comm_, code);
    std::exit(code);  // MPI_Abort does not return; this satisfies [[noreturn]] if an implementation does
  }

 private:
  template <class T>
  void allreduce(T* d, std::size_t n) {
    if (n == 0) return;
    check_count(n, "allreduce");
    std::lock_guard<std::mutex> lock(calls_);
    MPI_Request req;
    call(MPI_Iallreduce(MPI_IN_PLACE, d, static_cast<int>(n), detail::mpi_type<T>(), MPI_SUM, comm_, &req), "allreduce");
    wait(req, "allreduce", n);
  }
  template <class T>
  void bcast(T* d, std::size_t n, int root) {
    check(root >= 0 && root < size_, [&] { return cat("mpi_communicator::broadcast: root ", root, " is not a rank of ", size_); });
    if (n == 0) return;
    check_count(n, "broadcast");
    std::lock_guard<std::mutex> lock(calls_);
    MPI_Request req;
    call(MPI_Ibcast(d, static_cast<int>(n), detail::mpi_type<T>(), root, comm_, &req), "broadcast");
    wait(req, "broadcast", n);
  }
  template <class T>
  void gather(const T* s, std::size_t n, T* r) {
    if (n == 0) return;
    check_count(n, "allgather");
    std::lock_guard<std::mutex> lock(calls_);
    MPI_Request req;
    call(MPI_Iallgather(s, static_cast<int>(n), detail::mpi_type<T>(), r, static_cast<int>(n), detail::mpi_type<T>(),
                        comm_, &req),
         "allgather");
    wait(req, "allgather", n);
  }
  void check_count(std::size_t n, const char* what) const {
    check(n <= static_cast<std::size_t>(std::numeric_limits<int>::max()), [&] {
      return cat("mpi_communicator::", what, ": ", n, " elements exceed MPI's int count; split the buffer (buckets)");
    });
  }
  void call(int rc, const char* what) {
    if (rc == MPI_SUCCESS) return;
    failed_ = true;
    vae::detail::throw_error(cat(describe(), ": MPI ", what, " failed: ", detail::mpi_error_text(rc)));
  }
  // Polls the request: on the thread that made the communicator, busy for the first millisecond (a collective between
  // live ranks usually completes in that time), then with 50 µs sleeps so a waiting rank leaves the cores to the
  // others (the test machines oversubscribe); on any other thread (the gradient reducer's, beside a running backward
  // pass) with sleeps from the start, so that it takes no core from the computation.
  void wait(MPI_Request& req, const char* what, std::size_t n) {
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    const auto deadline = start + std::chrono::duration<double>(timeout_);
    const bool on_owner = std::this_thread::get_id() == owner_;
    int done = 0;
    for (long spins = 0;; ++spins) {
      call(MPI_Test(&req, &done, MPI_STATUS_IGNORE), what);
      if (done) return;
      const auto t = clock::now();
      if (t > deadline) {
        failed_ = true;
        vae::detail::throw_error(cat(describe(), ": ", what, " of ", n, " elements did not complete within ", timeout_,
                                     " s: another rank has stopped (crashed, killed, stuck or out of step). "
                                     "This rank gives up instead of waiting forever"));
      }
      if (!on_owner || t - start > std::chrono::milliseconds(1))
        std::this_thread::sleep_for(std::chrono::microseconds(on_owner ? 50 : 20));
    }
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  double timeout_;
  bool owns_ = false, failed_ = false, serialized_ = false, spans_hosts_ = false;
  std::thread::id owner_ = std::this_thread::get_id();
  std::mutex calls_;
};

static_assert(Communicator<mpi_communicator>);

}  // namespace vae::dist
