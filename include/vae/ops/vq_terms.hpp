// Element loops of the nearest-code quantizers as ops: the [N, C, h, w] ↔ rows [N·h·w, C] layout, the gather of the
// selected codes, the squared error between encoder rows and codes, the commitment and codebook gradients, and the
// per-code counts of a batch's indices, and the EMA codebook update.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "vae/backend/cpu.hpp"

namespace vae {

struct rows_layout_op {};  // kernel<rows_layout_op, B>: to_rows, to_nchw
struct vq_terms_op {};  // kernel<vq_terms_op, B>: gather, squared_error, commitment_grad, codebook_grad, counts,
                        // ema_update

// Sizes and rates of one EMA codebook update (EMAVectorQuantizer): rows z [rows, dim] assigned to codes [codes, dim].
struct vq_ema_args {
  std::int64_t rows, codes, dim;
  double decay, eps;  // λ and ε
};

// All pointers point into B's memory (device memory for cuda); idx holds code indices in [0, codes).
namespace ops {

// [n, c, h, w] (hw = h·w) → rows [n·hw, c], row r = (image, y, x) (WRITTEN).
template <class B, class T>
void nchw_to_rows(std::int64_t n, std::int64_t c, std::int64_t hw, const T* src, T* dst) {
  kernel<rows_layout_op, B>::to_rows(n, c, hw, src, dst);
}
// rows [n·hw, c] → [n, c, h, w] (WRITTEN).
template <class B, class T>
void rows_to_nchw(std::int64_t n, std::int64_t c, std::int64_t hw, const T* src, T* dst) {
  kernel<rows_layout_op, B>::to_nchw(n, c, hw, src, dst);
}

// out[r, :] = codes[idx[r], :] for r < rows (out [rows, dim], codes [·, dim]; WRITTEN).
template <class B, class T>
void vq_gather(std::int64_t rows, std::int64_t dim, const T* codes, const std::int32_t* idx, T* out) {
  kernel<vq_terms_op, B>::gather(rows, dim, codes, idx, out);
}
// Σ_i (a_i − b_i)² over the rows·dim elements, each difference and the sum in double.
template <class B, class T>
double vq_squared_error(std::int64_t rows, std::int64_t dim, const T* a, const T* b) {
  return kernel<vq_terms_op, B>::squared_error(rows, dim, a, b);
}
// dz[i] += T(scale·(z_i − e_i)) for i < n (the commitment term's gradient in z; ADDED).
template <class B, class T>
void vq_commitment_grad(std::int64_t n, double scale, const T* z, const T* e, T* dz) {
  kernel<vq_terms_op, B>::commitment_grad(n, scale, z, e, dz);
}
// grad[idx[r], j] += T(scale·(e_rj − z_rj)) for every row r in increasing r (the codebook term's gradient; ADDED).
template <class B, class T>
void vq_codebook_grad(std::int64_t rows, std::int64_t codes, std::int64_t dim, double scale, const std::int32_t* idx,
                      const T* z, const T* e, T* grad) {
  kernel<vq_terms_op, B>::codebook_grad(rows, codes, dim, scale, idx, z, e, grad);
}
// counts[k] = #{r < rows : idx[r] = k} for k < codes (WRITTEN).
template <class B>
void vq_code_counts(std::int64_t rows, std::int64_t codes, const std::int32_t* idx, std::int64_t* counts) {
  kernel<vq_terms_op, B>::counts(rows, codes, idx, counts);
}

// N_k ← T(λN_k + (1−λ)n_k), n = Σ_k N_k (double, k order), S_kj ← T(λS_kj + (1−λ)Σ_{r→k} z_rj) (the row sums in double,
// r order), E_kj ← T(S_kj / ((N_k + ε)/(n + Kε)·n)). counts = n_k (vq_code_counts of idx); count N [codes], sum S and
// codebook E [codes, dim] are updated in place.
template <class B, class T>
void vq_ema_update(const vq_ema_args& a, const std::int32_t* idx, const T* z, const std::int64_t* counts, T* count,
                   T* sum, T* codebook) {
  kernel<vq_terms_op, B>::ema_update(a, idx, z, counts, count, sum, codebook);
}

}  // namespace ops

// cpu kernels: the loops of quantizers/vector_quantizer.hpp moved here unchanged (same order, same precision), so
// the quantizers' cpu results are bit for bit those of before.
template <>
struct kernel<rows_layout_op, cpu> {
  template <class T>
  static void to_rows(std::int64_t n, std::int64_t c, std::int64_t hw, const T* src, T* dst) {
    parallel_for(n, n * c * hw, [&](std::int64_t b) {
      const T* s = src + b * c * hw;
      T* d = dst + b * hw * c;
      for (std::int64_t ch = 0; ch < c; ++ch)
        for (std::int64_t p = 0; p < hw; ++p) d[p * c + ch] = s[ch * hw + p];
    });
  }
  template <class T>
  static void to_nchw(std::int64_t n, std::int64_t c, std::int64_t hw, const T* src, T* dst) {
    parallel_for(n, n * c * hw, [&](std::int64_t b) {
      const T* s = src + b * hw * c;
      T* d = dst + b * c * hw;
      for (std::int64_t ch = 0; ch < c; ++ch)
        for (std::int64_t p = 0; p < hw; ++p) d[ch * hw + p] = s[p * c + ch];
    });
  }
};

template <>
struct kernel<vq_terms_op, cpu> {
  template <class T>
  static void gather(std::int64_t rows, std::int64_t dim, const T* codes, const std::int32_t* idx, T* out) {
    parallel_for(rows, rows * dim, [&](std::int64_t r) {
      std::copy(codes + idx[r] * dim, codes + idx[r] * dim + dim, out + r * dim);
    });
  }
  // One running sum in element order.
  template <class T>
  static double squared_error(std::int64_t rows, std::int64_t dim, const T* a, const T* b) {
    double se = 0;
    for (std::int64_t i = 0; i < rows * dim; ++i) {
      const double diff = static_cast<double>(a[i]) - static_cast<double>(b[i]);
      se += diff * diff;
    }
    return se;
  }
  template <class T>
  static void commitment_grad(std::int64_t n, double scale, const T* z, const T* e, T* dz) {
    for (std::int64_t i = 0; i < n; ++i) dz[i] += static_cast<T>(scale * (z[i] - e[i]));
  }
  template <class T>
  static void codebook_grad(std::int64_t rows, std::int64_t, std::int64_t dim, double scale, const std::int32_t* idx,
                            const T* z, const T* e, T* grad) {
    for (std::int64_t r = 0; r < rows; ++r) {
      T* g = grad + idx[r] * dim;
      for (std::int64_t j = 0; j < dim; ++j) g[j] += static_cast<T>(scale * (e[r * dim + j] - z[r * dim + j]));
    }
  }
  static void counts(std::int64_t rows, std::int64_t codes, const std::int32_t* idx, std::int64_t* counts) {
    std::fill(counts, counts + codes, std::int64_t{0});
    for (std::int64_t r = 0; r < rows; ++r) ++counts[idx[r]];
  }
  template <class T>
  static void ema_update(const vq_ema_args& a, const std::int32_t* idx, const T* z, const std::int64_t* counts,
                         T* count, T* sum, T* codebook) {
    const std::int64_t K = a.codes, d = a.dim;
    const double lambda = a.decay;
    std::vector<double> sums(static_cast<std::size_t>(K * d), 0.0);
    for (std::int64_t r = 0; r < a.rows; ++r)
      for (std::int64_t j = 0; j < d; ++j) sums[idx[r] * d + j] += z[r * d + j];
    double n = 0;
    for (std::int64_t k = 0; k < K; ++k) {
      count[k] = static_cast<T>(lambda * count[k] + (1 - lambda) * counts[k]);
      n += count[k];
    }
    for (std::int64_t k = 0; k < K; ++k) {
      const double smoothed = (count[k] + a.eps) / (n + K * a.eps) * n;
      for (std::int64_t j = 0; j < d; ++j) {
        T& s = sum[k * d + j];
        s = static_cast<T>(lambda * s + (1 - lambda) * sums[k * d + j]);
        codebook[k * d + j] = static_cast<T>(s / smoothed);
      }
    }
  }
};

}  // namespace vae

#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/vq_terms.cuh"
#endif
