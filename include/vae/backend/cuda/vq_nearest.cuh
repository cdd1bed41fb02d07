// cuda kernel of the nearest-code op: a squared-norm kernel, one cuBLAS GEMM for −2 z·Eᵀ, a block-per-row argmin.
#pragma once
#include <cstdint>
#include <limits>

#include "vae/backend/cuda.hpp"
#include "vae/backend/cuda/linear.cuh"
#include "vae/backend/cuda/reduce.cuh"
#include "vae/core/error.hpp"
#include "vae/core/tensor.hpp"
#include "vae/ops/vq_nearest.hpp"

namespace vae {

namespace cuda_detail {

// out[i] = Σ_j a[i, j]² for the rows of a [rows, dim]: one thread per row, summing in j order (as the cpu kernel).
template <class T>
__global__ void squared_norms_kernel(const T* a, std::int64_t rows, std::int64_t dim, T* out) {
  const std::int64_t i = thread_index();
  if (i >= rows) return;
  T s = 0;
  for (std::int64_t j = 0; j < dim; ++j) s += a[i * dim + j] * a[i * dim + j];
  out[i] = s;
}

// The order the op's argmin follows, as a strict "candidate (va, ka) beats (vb, kb)": an empty slot (k < 0) never
// wins and loses to anything; a number beats NaN; two numbers: the smaller, then the lower index (first minimum);
// two NaNs: the higher index (the cpu kernel gives an all-NaN row the last code). `v != v` is the NaN test.
template <class T>
__device__ bool nearer(T va, std::int32_t ka, T vb, std::int32_t kb) {
  if (ka < 0) return false;
  if (kb < 0) return true;
  const bool nan_a = va != va, nan_b = vb != vb;
  if (nan_a != nan_b) return nan_b;
  if (nan_a) return ka > kb;
  return va < vb || (va == vb && ka < kb);
}

// Block r = row r (blockDim.x == reduce_threads): dist[r, k] ← (row_norms[r] + dist[r, k]) + code_norms[k] for every
// k (thread t takes k = t, t + blockDim.x, …), then idx[r] = the row's best (k, dist) under `nearer`. Each thread
// keeps its own best, and a shared-memory tree reduces the blockDim.x candidates; `nearer` is a strict total order
// on distinct indices, so the result does not depend on which thread saw which code. Every thread reaches every
// __syncthreads (no early return).
template <class T>
__global__ void nearest_rows_kernel(std::int64_t codes, const T* row_norms, const T* code_norms, T* dist,
                                    std::int32_t* idx) {
  __shared__ T best_v[reduce_threads];
  __shared__ std::int32_t best_k[reduce_threads];
  const std::int64_t r = blockIdx.x;
  T* row = dist + r * codes;
  const T zz = row_norms[r];
  T v = 0;
  std::int32_t k = -1;
  for (std::int64_t c = threadIdx.x; c < codes; c += blockDim.x) {
    const T dc = (zz + row[c]) + code_norms[c];
    row[c] = dc;
    if (nearer(dc, static_cast<std::int32_t>(c), v, k)) {
      v = dc;
      k = static_cast<std::int32_t>(c);
    }
  }
  best_v[threadIdx.x] = v;
  best_k[threadIdx.x] = k;
  __syncthreads();
  for (unsigned s = reduce_threads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s && nearer(best_v[threadIdx.x + s], best_k[threadIdx.x + s], best_v[threadIdx.x],
                                  best_k[threadIdx.x])) {
      best_v[threadIdx.x] = best_v[threadIdx.x + s];
      best_k[threadIdx.x] = best_k[threadIdx.x + s];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) idx[r] = best_k[0];
}

}  // namespace cuda_detail

template <>
struct kernel<vq_nearest_op, cuda> {
  template <class T>
  static void code_norms(const vq_nearest_dims& d, const T* E, T* out) {
    if (d.codes == 0) return;
    cuda_detail::squared_norms_kernel<<<cuda_detail::blocks_for(d.codes), cuda_detail::threads_per_block, 0,
                                        cuda_detail::stream()>>>(E, d.codes, d.dim, out);
    cuda_detail::check_launch("vae::cuda vq_nearest code norms");
  }

  // As the cpu kernel; all pointers are device pointers. The row norms live in a temporary from the caching allocator.
  template <class T>
  static void nearest(const vq_nearest_dims& d, const T* z, const T* E, const T* ee, T* dist, std::int32_t* idx) {
    if (d.rows == 0 || d.codes == 0) return;
    check(d.codes <= std::numeric_limits<std::int32_t>::max(),
          [&] { return cat("vq_nearest: ", d.codes, " codes exceed int32 indices"); });
    tensor<T, cuda> zz({d.rows});
    cuda_detail::squared_norms_kernel<<<cuda_detail::blocks_for(d.rows), cuda_detail::threads_per_block, 0,
                                        cuda_detail::stream()>>>(z, d.rows, d.dim, zz.data());
    cuda_detail::check_launch("vae::cuda vq_nearest row norms");
    cuda_detail::gemm<T>(false, true, d.rows, d.codes, d.dim, T(-2), z, d.dim, E, d.dim, T(0), dist, d.codes);
    cuda_detail::nearest_rows_kernel<<<cuda_detail::row_blocks(d.rows), cuda_detail::reduce_threads, 0,
                                       cuda_detail::stream()>>>(d.codes, zz.data(), ee, dist, idx);
    cuda_detail::check_launch("vae::cuda vq_nearest argmin");
  }
};

}  // namespace vae
