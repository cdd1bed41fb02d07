// Shared helpers of the cuda reduction kernels: block-wide sums/max in shared memory and a device→host double sum.
#pragma once
#include <cstdint>
#include <limits>

#include "vae/backend/cuda.hpp"
#include "vae/core/tensor.hpp"

namespace vae {

namespace cuda_detail {

// Every "one block per row" kernel runs with exactly this many threads per block (a power of two).
inline constexpr unsigned reduce_threads = 256;

// Σ v over the threads of the block (blockDim.x == reduce_threads), returned to every thread. Every thread of the
// block must call it (it synchronises). Tree order in shared memory: deterministic for a given block size.
__device__ inline double block_sum(double v) {
  __shared__ double buf[reduce_threads];
  buf[threadIdx.x] = v;
  __syncthreads();
  for (unsigned s = reduce_threads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) buf[threadIdx.x] += buf[threadIdx.x + s];
    __syncthreads();
  }
  const double total = buf[0];
  __syncthreads();  // buf is read by every thread before the next call overwrites it
  return total;
}

// Two sums at once (one pass of synchronisation): a ← Σ a, b ← Σ b over the block.
__device__ inline void block_sum2(double& a, double& b) {
  __shared__ double bufa[reduce_threads];
  __shared__ double bufb[reduce_threads];
  bufa[threadIdx.x] = a;
  bufb[threadIdx.x] = b;
  __syncthreads();
  for (unsigned s = reduce_threads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      bufa[threadIdx.x] += bufa[threadIdx.x + s];
      bufb[threadIdx.x] += bufb[threadIdx.x + s];
    }
    __syncthreads();
  }
  a = bufa[0];
  b = bufb[0];
  __syncthreads();
}

// max v over the block, returned to every thread (same calling rules as block_sum).
__device__ inline double block_max(double v) {
  __shared__ double buf[reduce_threads];
  buf[threadIdx.x] = v;
  __syncthreads();
  for (unsigned s = reduce_threads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s && buf[threadIdx.x + s] > buf[threadIdx.x]) buf[threadIdx.x] = buf[threadIdx.x + s];
    __syncthreads();
  }
  const double m = buf[0];
  __syncthreads();
  return m;
}

// One block per row/channel: the grid size for `rows` blocks, checked against CUDA's grid limit.
inline unsigned row_blocks(std::int64_t rows) {
  vae::check(rows >= 0 && rows <= 0x7fffffff, [&] { return cat("cuda: ", rows, " rows exceed one grid of blocks"); });
  return static_cast<unsigned>(rows);
}

// out[0] = Σ_{i<n} v[i], by one block.
template <class T>
__global__ void sum_doubles_kernel(const T* v, std::int64_t n, double* out) {
  double s = 0;
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) s += static_cast<double>(v[i]);
  s = block_sum(s);
  if (threadIdx.x == 0) out[0] = s;
}

// Σ_{i<n} v[i] of a device array, returned to the host (waits for the stream).
inline double sum_to_host(const double* v, std::int64_t n) {
  if (n == 0) return 0.0;
  tensor<double, cuda> total({1});
  sum_doubles_kernel<<<1, reduce_threads, 0, stream()>>>(v, n, total.data());
  check_launch("vae::cuda sum_doubles");
  double host = 0;
  cuda::copy_to_host(&host, total.data(), 1);
  return host;
}

}  // namespace cuda_detail

}  // namespace vae
