// The cuda backend tag: device memory from a caching allocator, one stream per process, cuBLAS handle, checked calls.
#pragma once

#if !defined(__CUDACC__)
#error "vae/backend/cuda.hpp is CUDA code: compile this file with nvcc (a .cu source) and link the vae_cuda target (it defines VAE_WITH_CUDA). CPU-only code includes vae/backend/cpu.hpp and never this header."
#endif
#if !defined(VAE_WITH_CUDA)
#error "vae/backend/cuda.hpp: VAE_WITH_CUDA is not defined; link the vae_cuda CMake target (or pass -DVAE_WITH_CUDA) so that every translation unit agrees on the ABI namespace in vae/config.hpp."
#endif

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "vae/backend/cpu.hpp"
#include "vae/core/error.hpp"
#include "vae/core/memory_space.hpp"

namespace vae {

namespace cuda_detail {

// Throws vae::error naming the failed call, CUDA's own message and the caller's file:line.
inline void check_call(cudaError_t status, const char* what,
                  const source_location where = source_location::current()) {
  if (status != cudaSuccess) {
    (void)cudaGetLastError();  // reset the last-error slot so a later check_launch does not report this again
    detail::throw_error(cat(what, " failed: ", cudaGetErrorName(status), " (", cudaGetErrorString(status), ")"),
                        where);
  }
}
inline void check_call(cublasStatus_t status, const char* what,
                  const source_location where = source_location::current()) {
  if (status != CUBLAS_STATUS_SUCCESS)
    detail::throw_error(cat(what, " failed: ", cublasGetStatusString(status), " (cublasStatus_t ",
                            static_cast<int>(status), ")"),
                        where);
}
// After a <<<...>>> launch: reports a bad launch configuration (or an earlier asynchronous fault) as vae::error.
inline void check_launch(const char* kernel_name, const source_location where = source_location::current()) {
  check_call(cudaGetLastError(), kernel_name, where);
}

// One thread per element: blocks of `threads_per_block`, enough blocks to cover n.
inline constexpr unsigned threads_per_block = 256;
inline unsigned blocks_for(std::int64_t n) {
  const std::int64_t b = (n + threads_per_block - 1) / threads_per_block;
  vae::check(b <= 0x7fffffff, [&] { return cat("cuda: ", n, " elements exceed one grid of ", threads_per_block, "-thread blocks"); });
  return static_cast<unsigned>(b);
}
__device__ inline std::int64_t thread_index() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}

// The process's stream: every vae kernel, cuBLAS call and copy runs on it, in order, so a block returned
// to the allocator may be handed out again at once (later work on the same stream runs after earlier work).
// Created on first use and deliberately never destroyed (the CUDA runtime may be gone at static destruction).
inline cudaStream_t stream() {
  static cudaStream_t s = [] {
    cudaStream_t created = nullptr;
    check_call(cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    return created;
  }();
  return s;
}

// Caching allocator: blocks are rounded up to a size bucket and, when freed, kept on that bucket's free
// list for the next request of the same bucket, so a training step that repeats its shapes calls cudaMalloc
// only during its first iteration. Single device (the one current at first use). Thread-safe.
class caching_allocator {
 public:
  struct statistics {
    std::size_t device_allocations = 0;  // cudaMalloc calls so far
    std::size_t cache_hits = 0;          // requests served from a free list
    std::size_t bytes_in_use = 0;        // held by live tensors (bucket sizes)
    std::size_t bytes_cached = 0;        // on free lists
  };

  // 512-byte granularity below 1 MiB, 2 MiB above: small tensors waste little, large ones reuse well.
  static std::size_t bucket(std::size_t bytes) {
    constexpr std::size_t small = 512, large = std::size_t(2) << 20, split = std::size_t(1) << 20;
    const std::size_t g = bytes < split ? small : large;
    return (bytes + g - 1) / g * g;
  }

  void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    const std::size_t size = bucket(bytes);
    std::lock_guard lock(mutex_);
    void* p = nullptr;
    if (auto it = free_.find(size); it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      stats_.bytes_cached -= size;
      ++stats_.cache_hits;
    } else {
      cudaError_t status = cudaMalloc(&p, size);
      if (status == cudaErrorMemoryAllocation) {  // give the cache back to the driver and try once more
        (void)cudaGetLastError();
        release_locked();
        status = cudaMalloc(&p, size);
      }
      check_call(status, "cudaMalloc");
      ++stats_.device_allocations;
    }
    live_.emplace(p, size);
    stats_.bytes_in_use += size;
    return p;
  }

  void deallocate(void* p) noexcept {
    if (!p) return;
    std::lock_guard lock(mutex_);
    const auto it = live_.find(p);
    if (it == live_.end()) return;  // not ours: ignore rather than corrupt the lists (cannot throw here)
    free_[it->second].push_back(p);
    stats_.bytes_in_use -= it->second;
    stats_.bytes_cached += it->second;
    live_.erase(it);
  }

  // Returns every cached (free) block to the driver; live blocks are untouched.
  void release_cached() {
    std::lock_guard lock(mutex_);
    release_locked();
  }

  statistics stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
  }

 private:
  // Frees every block even if one cudaFree fails, then reports the first failure.
  void release_locked() {
    cudaError_t first_error = cudaSuccess;
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) {
        const cudaError_t status = cudaFree(p);  // cudaFree synchronises the device first
        if (first_error == cudaSuccess) first_error = status;
      }
    free_.clear();
    stats_.bytes_cached = 0;
    check_call(first_error, "cudaFree (releasing cached blocks)");
  }

  mutable std::mutex mutex_;
  std::map<std::size_t, std::vector<void*>> free_;  // bucket size → free blocks
  std::unordered_map<void*, std::size_t> live_;     // block → bucket size
  statistics stats_;
};

// The one allocator of the process. Never destroyed: tensors with static storage may be freed after it
// would have been, and the CUDA runtime may already be unloaded at exit; the driver reclaims the memory.
inline caching_allocator& allocator() {
  static caching_allocator* instance = new caching_allocator();
  return *instance;
}

// The process's cuBLAS handle, bound to stream(). Created on first use, never destroyed (see allocator()).
inline cublasHandle_t blas() {
  static cublasHandle_t handle = [] {
    cublasHandle_t created = nullptr;
    check_call(cublasCreate(&created), "cublasCreate");
    check_call(cublasSetStream(created, stream()), "cublasSetStream");
    return created;
  }();
  return handle;
}

template <class T>
__global__ void fill_kernel(T* dst, std::int64_t n, T value) {
  const std::int64_t i = thread_index();
  if (i < n) dst[i] = value;
}

}  // namespace cuda_detail

// Backend policy for one NVIDIA GPU. Kernels are specialisations kernel<Op, cuda> in backend/cuda/<op>.cuh.
// Device memory is not addressable from the host: move data with to<cuda>/to<cpu> (backend/cuda/transfer.cuh)
// or copy_from_host/copy_to_host. All work is ordered on one stream; synchronize() waits for it.
struct cuda {
  using memory_space = device_memory;
  static constexpr const char* name = "cuda";

  template <class T>
  static T* allocate(std::size_t n) {
    return static_cast<T*>(cuda_detail::allocator().allocate(n * sizeof(T)));
  }
  template <class T>
  static void deallocate(T* p) noexcept {
    cuda_detail::allocator().deallocate(p);
  }
  // Device → device.
  template <class T>
  static void copy(T* dst, const T* src, std::size_t n) {
    if (n == 0) return;
    cuda_detail::check_call(cudaMemcpyAsync(dst, src, n * sizeof(T), cudaMemcpyDeviceToDevice, cuda_detail::stream()),
                       "cudaMemcpyAsync(device to device)");
  }
  // Host → device; returns once the host buffer may be reused.
  template <class T>
  static void copy_from_host(T* dst, const T* src, std::size_t n) {
    if (n == 0) return;
    cuda_detail::check_call(cudaMemcpyAsync(dst, src, n * sizeof(T), cudaMemcpyHostToDevice, cuda_detail::stream()),
                       "cudaMemcpyAsync(host to device)");
    synchronize();
  }
  // Device → host; waits for all earlier work on the stream, then for the copy.
  template <class T>
  static void copy_to_host(T* dst, const T* src, std::size_t n) {
    if (n == 0) return;
    cuda_detail::check_call(cudaMemcpyAsync(dst, src, n * sizeof(T), cudaMemcpyDeviceToHost, cuda_detail::stream()),
                       "cudaMemcpyAsync(device to host)");
    synchronize();
  }
  template <class T>
  static void fill(T* dst, std::size_t n, T value) {
    if (n == 0) return;
    const auto count = static_cast<std::int64_t>(n);
    cuda_detail::fill_kernel<<<cuda_detail::blocks_for(count), cuda_detail::threads_per_block, 0,
                               cuda_detail::stream()>>>(dst, count, value);
    cuda_detail::check_launch("vae::cuda::fill");
  }
  static void synchronize() { cuda_detail::check_call(cudaStreamSynchronize(cuda_detail::stream()), "cudaStreamSynchronize"); }

  static cudaStream_t stream() { return cuda_detail::stream(); }
  static cublasHandle_t blas_handle() { return cuda_detail::blas(); }
  static cuda_detail::caching_allocator::statistics allocator_stats() { return cuda_detail::allocator().stats(); }
  static void release_cached_memory() { cuda_detail::allocator().release_cached(); }
};

}  // namespace vae
