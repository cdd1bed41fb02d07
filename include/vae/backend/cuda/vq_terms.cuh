// cuda kernels of the quantizer element ops (ops/vq_terms.hpp): one thread per output element for the layout
// transposes, the gather and the commitment gradient; one thread per codebook entry (k, j) for the codebook gradient
// and the EMA sums, each walking its code's rows in increasing order (the cpu's order, no atomics, so the float sums
// are the cpu's bit for bit; rows_by_code.cuh sorts the rows by code first); counts = segment lengths; the squared
// error as per-row double sums then one block's tree sum.
#pragma once
#include <cstdint>

#include "vae/backend/cuda.hpp"
#include "vae/backend/cuda/reduce.cuh"
#include "vae/backend/cuda/rows_by_code.cuh"
#include "vae/core/tensor.hpp"
#include "vae/ops/vq_terms.hpp"

namespace vae {

namespace cuda_detail {

// Thread e < n·c·hw, e = (b·hw + p)·c + ch (a row element): dst[e] = src[b, ch, p].
template <class T>
__global__ void nchw_to_rows_kernel(std::int64_t total, std::int64_t c, std::int64_t hw, const T* src, T* dst) {
  const std::int64_t e = thread_index();
  if (e >= total) return;
  const std::int64_t ch = e % c, bp = e / c, p = bp % hw, b = bp / hw;
  dst[e] = src[(b * c + ch) * hw + p];
}

// Thread e < n·c·hw, e = (b·c + ch)·hw + p (an NCHW element): dst[e] = src[b·hw + p, ch].
template <class T>
__global__ void rows_to_nchw_kernel(std::int64_t total, std::int64_t c, std::int64_t hw, const T* src, T* dst) {
  const std::int64_t e = thread_index();
  if (e >= total) return;
  const std::int64_t p = e % hw, bc = e / hw, ch = bc % c, b = bc / c;
  dst[e] = src[(b * hw + p) * c + ch];
}

// Thread e < rows·dim: out[e] = codes[idx[e / dim], e % dim].
template <class T>
__global__ void vq_gather_kernel(std::int64_t total, std::int64_t dim, const T* codes, const std::int32_t* idx,
                                 T* out) {
  const std::int64_t e = thread_index();
  if (e >= total) return;
  out[e] = codes[static_cast<std::int64_t>(idx[e / dim]) * dim + e % dim];
}

// Thread r < rows: per_row[r] = Σ_j (a − b)² over the row, in j order, in double.
template <class T>
__global__ void vq_row_squared_error_kernel(std::int64_t rows, std::int64_t dim, const T* a, const T* b,
                                            double* per_row) {
  const std::int64_t r = thread_index();
  if (r >= rows) return;
  double s = 0;
  for (std::int64_t j = r * dim; j < (r + 1) * dim; ++j) {
    const double diff = static_cast<double>(a[j]) - static_cast<double>(b[j]);
    s += diff * diff;
  }
  per_row[r] = s;
}

// Thread i < n: dz[i] += T(scale·(z_i − e_i)), the difference taken in T as on the cpu.
template <class T>
__global__ void vq_commitment_grad_kernel(std::int64_t n, double scale, const T* z, const T* e, T* dz) {
  const std::int64_t i = thread_index();
  if (i >= n) return;
  const T diff = z[i] - e[i];
  dz[i] += static_cast<T>(scale * static_cast<double>(diff));
}

// Thread q < codes·dim, q = k·dim + j: grad[q] += T(scale·(e_rj − z_rj)) for each row r with idx[r] = k, r increasing
// (the cpu loop's order for this entry, so the float sum is the same), walking only code k's rows (rows_by_code.cuh).
// The threads of a warp share k (dim ≥ 32) or a few k, so order[i] is a broadcast read.
template <class T>
__global__ void vq_codebook_grad_kernel(std::int64_t total, std::int64_t dim, double scale, const std::int32_t* order,
                                        const std::int32_t* offsets, const T* z, const T* e, T* grad) {
  const std::int64_t q = thread_index();
  if (q >= total) return;
  const std::int64_t k = q / dim, j = q % dim;
  T g = grad[q];
  // The loads of `batch` rows are issued before their sums, which stay in row order: early in training a few codes
  // hold most rows (a segment of thousands), and one load at a time left the walk waiting on memory (2 ms of a step).
  constexpr int batch = 8;
  std::int32_t i = offsets[k];
  const std::int32_t end = offsets[k + 1];
  for (; i + batch <= end; i += batch) {
    T diff[batch];
#pragma unroll
    for (int u = 0; u < batch; ++u) {
      const std::int64_t r = order[i + u];
      diff[u] = e[r * dim + j] - z[r * dim + j];
    }
#pragma unroll
    for (int u = 0; u < batch; ++u) g += static_cast<T>(scale * static_cast<double>(diff[u]));
  }
  for (; i < end; ++i) {
    const std::int64_t r = order[i];
    const T diff = e[r * dim + j] - z[r * dim + j];
    g += static_cast<T>(scale * static_cast<double>(diff));
  }
  grad[q] = g;
}

// Thread k < codes: counts[k] = #{r : idx[r] = k} = the length of code k's segment.
template <class I>
__global__ void vq_counts_kernel(std::int64_t codes, const I* offsets, std::int64_t* counts) {
  const std::int64_t k = thread_index();
  if (k < codes) counts[k] = static_cast<std::int64_t>(offsets[k + 1]) - offsets[k];
}

// One thread: N_k ← T(λN_k + (1−λ)n_k) for every k, and n = Σ_k N_k in k order (the cpu's loop) into total[0].
template <class T>
__global__ void vq_ema_counts_kernel(std::int64_t codes, double decay, const std::int64_t* counts, T* count,
                                     double* total) {
  if (thread_index() != 0) return;
  double n = 0;
  for (std::int64_t k = 0; k < codes; ++k) {
    count[k] = static_cast<T>(decay * count[k] + (1 - decay) * counts[k]);
    n += count[k];
  }
  total[0] = n;
}

// Thread q < codes·dim, q = k·dim + j: the rows' sum Σ_{r→k} z_rj in double in r order (code k's segment of
// rows_by_code), then S_kj and E_kj as the cpu.
template <class T>
__global__ void vq_ema_codes_kernel(vq_ema_args a, const std::int32_t* order, const std::int32_t* offsets, const T* z,
                                    const T* count, const double* total, T* sum, T* codebook) {
  const std::int64_t q = thread_index();
  if (q >= a.codes * a.dim) return;
  const std::int64_t k = q / a.dim, j = q % a.dim;
  double rows_sum = 0;
  constexpr int batch = 8;  // loads ahead of the in-order sums, as in vq_codebook_grad_kernel
  std::int32_t i = offsets[k];
  const std::int32_t end = offsets[k + 1];
  for (; i + batch <= end; i += batch) {
    T v[batch];
#pragma unroll
    for (int u = 0; u < batch; ++u) v[u] = z[static_cast<std::int64_t>(order[i + u]) * a.dim + j];
#pragma unroll
    for (int u = 0; u < batch; ++u) rows_sum += v[u];
  }
  for (; i < end; ++i) rows_sum += z[static_cast<std::int64_t>(order[i]) * a.dim + j];
  const double n = total[0];
  const double smoothed = (count[k] + a.eps) / (n + a.codes * a.eps) * n;
  const T s = static_cast<T>(a.decay * sum[q] + (1 - a.decay) * rows_sum);
  sum[q] = s;
  codebook[q] = static_cast<T>(s / smoothed);
}

}  // namespace cuda_detail

template <>
struct kernel<rows_layout_op, cuda> {
  template <class T>
  static void to_rows(std::int64_t n, std::int64_t c, std::int64_t hw, const T* src, T* dst) {
    const std::int64_t total = n * c * hw;
    if (total == 0) return;
    cuda_detail::nchw_to_rows_kernel<<<cuda_detail::blocks_for(total), cuda_detail::threads_per_block, 0,
                                       cuda_detail::stream()>>>(total, c, hw, src, dst);
    cuda_detail::check_launch("vae::cuda nchw_to_rows");
  }
  template <class T>
  static void to_nchw(std::int64_t n, std::int64_t c, std::int64_t hw, const T* src, T* dst) {
    const std::int64_t total = n * c * hw;
    if (total == 0) return;
    cuda_detail::rows_to_nchw_kernel<<<cuda_detail::blocks_for(total), cuda_detail::threads_per_block, 0,
                                       cuda_detail::stream()>>>(total, c, hw, src, dst);
    cuda_detail::check_launch("vae::cuda rows_to_nchw");
  }
};

template <>
struct kernel<vq_terms_op, cuda> {
  template <class T>
  static void gather(std::int64_t rows, std::int64_t dim, const T* codes, const std::int32_t* idx, T* out) {
    const std::int64_t total = rows * dim;
    if (total == 0) return;
    cuda_detail::vq_gather_kernel<<<cuda_detail::blocks_for(total), cuda_detail::threads_per_block, 0,
                                    cuda_detail::stream()>>>(total, dim, codes, idx, out);
    cuda_detail::check_launch("vae::cuda vq_gather");
  }
  // Per-row sums on the device, their total on the host side of sum_to_host (waits for the stream).
  template <class T>
  static double squared_error(std::int64_t rows, std::int64_t dim, const T* a, const T* b) {
    if (rows == 0 || dim == 0) return 0.0;
    tensor<double, cuda> per_row({rows});
    cuda_detail::vq_row_squared_error_kernel<<<cuda_detail::blocks_for(rows), cuda_detail::threads_per_block, 0,
                                               cuda_detail::stream()>>>(rows, dim, a, b, per_row.data());
    cuda_detail::check_launch("vae::cuda vq_squared_error");
    return cuda_detail::sum_to_host(per_row.data(), rows);
  }
  template <class T>
  static void commitment_grad(std::int64_t n, double scale, const T* z, const T* e, T* dz) {
    if (n == 0) return;
    cuda_detail::vq_commitment_grad_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                             cuda_detail::stream()>>>(n, scale, z, e, dz);
    cuda_detail::check_launch("vae::cuda vq_commitment_grad");
  }
  template <class T>
  static void codebook_grad(std::int64_t rows, std::int64_t codes, std::int64_t dim, double scale,
                            const std::int32_t* idx, const T* z, const T* e, T* grad) {
    const std::int64_t total = codes * dim;
    if (total == 0 || rows == 0) return;
    const auto sorted = cuda_detail::sort_rows_by_code(rows, codes, idx);
    cuda_detail::vq_codebook_grad_kernel<<<cuda_detail::blocks_for(total), cuda_detail::threads_per_block, 0,
                                           cuda_detail::stream()>>>(total, dim, scale, sorted.order.data(),
                                                                    sorted.offsets.data(), z, e, grad);
    cuda_detail::check_launch("vae::cuda vq_codebook_grad");
  }
  static void counts(std::int64_t rows, std::int64_t codes, const std::int32_t* idx, std::int64_t* counts) {
    if (codes == 0) return;
    const auto sorted = cuda_detail::sort_rows_by_code(rows, codes, idx);
    cuda_detail::vq_counts_kernel<std::int32_t><<<cuda_detail::blocks_for(codes), cuda_detail::threads_per_block, 0,
                                    cuda_detail::stream()>>>(codes, sorted.offsets.data(), counts);
    cuda_detail::check_launch("vae::cuda vq_code_counts");
  }
  // Two launches: the counts and their total (one thread), then every codebook entry.
  template <class T>
  static void ema_update(const vq_ema_args& a, const std::int32_t* idx, const T* z, const std::int64_t* counts,
                         T* count, T* sum, T* codebook) {
    if (a.codes == 0) return;
    tensor<double, cuda> total({1});
    cuda_detail::vq_ema_counts_kernel<<<1, 1, 0, cuda_detail::stream()>>>(a.codes, a.decay, counts, count,
                                                                          total.data());
    cuda_detail::check_launch("vae::cuda vq_ema_update counts");
    const std::int64_t entries = a.codes * a.dim;
    if (entries == 0) return;
    const auto sorted = cuda_detail::sort_rows_by_code(a.rows, a.codes, idx);
    cuda_detail::vq_ema_codes_kernel<<<cuda_detail::blocks_for(entries), cuda_detail::threads_per_block, 0,
                                       cuda_detail::stream()>>>(a, sorted.order.data(), sorted.offsets.data(), z, count,
                                                                total.data(), sum, codebook);
    cuda_detail::check_launch("vae::cuda vq_ema_update codes");
  }
};

}  // namespace vae
