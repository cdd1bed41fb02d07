// nccl_communicator: allreduce and broadcast of device (GPU) buffers over NCCL, bootstrapped through MPI as llm.c does.
#pragma once
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdint>
#include <string>

#include "vae/core/error.hpp"
#include "vae/dist/mpi_communicator.hpp"

namespace vae::dist {

namespace detail {
inline void nccl_check(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) vae::detail::throw_error(cat("NCCL ", what, " failed: ", ncclGetErrorString(r)));
}
inline void cuda_check(cudaError_t r, const char* what) {
  if (r != cudaSuccess) vae::detail::throw_error(cat("CUDA ", what, " failed: ", cudaGetErrorString(r)));
}
template <class T>
ncclDataType_t nccl_type() {
  if constexpr (std::same_as<T, float>) return ncclFloat32;
  else if constexpr (std::same_as<T, double>) return ncclFloat64;
  else if constexpr (std::same_as<T, std::int64_t>) return ncclInt64;
  else return ncclUint8;
}
}  // namespace detail

// One NCCL communicator over the ranks of an mpi_communicator, one GPU per rank (device = local rank modulo the
// visible devices, chosen by the caller with cudaSetDevice before construction). Rank 0 makes the ncclUniqueId and
// MPI broadcasts it (llm.c's multi_gpu_config_init). Buffers are DEVICE pointers; every collective is enqueued on
// `stream` and waited for (cudaStreamSynchronize) so that it behaves as the MPI communicator's: done on return.
// The timeouts of a lost rank are NCCL's own (NCCL_TIMEOUT / the launcher), not a polling wait as in MPI.
class nccl_communicator {
 public:
  explicit nccl_communicator(mpi_communicator& mpi, cudaStream_t stream = nullptr) : stream_(stream) {
    ncclUniqueId id;
    if (mpi.rank() == 0) detail::nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    mpi.broadcast(reinterpret_cast<std::uint8_t*>(&id), sizeof(id), 0);
    detail::nccl_check(ncclCommInitRank(&comm_, mpi.size(), id, mpi.rank()), "ncclCommInitRank");
    rank_ = mpi.rank();
    size_ = mpi.size();
  }
  nccl_communicator(const nccl_communicator&) = delete;
  nccl_communicator& operator=(const nccl_communicator&) = delete;
  ~nccl_communicator() {
    if (comm_) ncclCommDestroy(comm_);
  }

  int rank() const { return rank_; }
  int size() const { return size_; }
  template <class T>
    requires collective_type<T>
  void allreduce_sum(T* device_data, std::size_t n) {
    if (n == 0) return;
    detail::nccl_check(ncclAllReduce(device_data, device_data, n, detail::nccl_type<T>(), ncclSum, comm_, stream_),
                       "ncclAllReduce");
    sync("ncclAllReduce");
  }
  template <class T>
    requires collective_type<T>
  void broadcast(T* device_data, std::size_t n, int root) {
    if (n == 0) return;
    detail::nccl_check(ncclBroadcast(device_data, device_data, n, detail::nccl_type<T>(), root, comm_, stream_),
                       "ncclBroadcast");
    sync("ncclBroadcast");
  }
  template <class T>
    requires collective_type<T>
  void allgather(const T* device_send, std::size_t n, T* device_recv) {
    if (n == 0) return;
    detail::nccl_check(ncclAllGather(device_send, device_recv, n, detail::nccl_type<T>(), comm_, stream_),
                       "ncclAllGather");
    sync("ncclAllGather");
  }
  // NCCL has no barrier: a one-element allreduce on the device is one.
  void barrier() {
    if (!barrier_buf_) detail::cuda_check(cudaMalloc(&barrier_buf_, sizeof(float)), "cudaMalloc (barrier)");
    allreduce_sum(barrier_buf_, 1);
  }
  ncclComm_t native() const { return comm_; }

 private:
  void sync(const char* what) { detail::cuda_check(cudaStreamSynchronize(stream_), what); }
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  float* barrier_buf_ = nullptr;
  int rank_ = 0, size_ = 1;
};

static_assert(Communicator<nccl_communicator>);

}  // namespace vae::dist
