// Float GEMM for one to four rows of op(A) (a sampled token's products) with AVX-512: B streamed where it lies.
#pragma once
#include <cstdint>
#include <type_traits>

#include "vae/backend/cpu/avx512.hpp"  // VAE_AVX512_KERNELS: built only where the compiler targets AVX-512

namespace vae::cpu_detail::avx512 {

#if defined(VAE_AVX512_KERNELS)

// Products with at most skinny_rows rows of op(A) (a sampled token's products: M = the batch) use each element of B
// M times only, so B is streamed once where it lies rather than packed into panels (a pack is one more pass over B
// than the product) or cut into 32-column panels (two registers of work per broadcast).
inline constexpr std::int64_t skinny_rows = 4;

// C = alpha·A·B + beta·C for MR rows of A [MR,K] (lda) and B [K,N] (ldb): 16/MR registers of C per row, each row
// of B read as one contiguous run of 16·(16/MR) floats per k.
template <int MR>
inline void skinny_times_rows(std::int64_t N, std::int64_t K, float alpha, const float* A, std::int64_t lda,
                              const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc) {
  constexpr int V = 16 / MR;
  for (std::int64_t j = 0; j < N; j += 16 * V) {
    __mmask16 m[V];
#pragma GCC unroll 16
    for (int v = 0; v < V; ++v) m[v] = lanes(N - j - 16 * v);
    __m512 acc[MR][V];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 16
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
    for (std::int64_t k = 0; k < K; ++k) {
      const float* bk = B + k * ldb + j;
      __m512 b[V];
#pragma GCC unroll 16
      for (int v = 0; v < V; ++v) b[v] = _mm512_maskz_loadu_ps(m[v], bk + 16 * v);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        const __m512 a = _mm512_set1_ps(A[r * lda + k]);
#pragma GCC unroll 16
        for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
      }
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 16
      for (int v = 0; v < V; ++v) {
        float* c = C + r * ldc + j + 16 * v;
        __m512 o = _mm512_mul_ps(va, acc[r][v]);
        if (beta != 0.0f) o = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m[v], c), o);
        _mm512_mask_storeu_ps(c, m[v], o);
      }
  }
}

// The sum of v's 16 lanes by three butterfly steps (swap halves, then 128-bit lanes, then pairs within them): GCC 12's
// _mm512_reduce_add_ps goes through an undefined 256-bit value and warns wherever it is inlined.
[[gnu::always_inline]] inline float lane_sum(__m512 v) {
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0x4E));
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0xB1));
  v = _mm512_add_ps(v, _mm512_permute_ps(v, 0x4E));
  v = _mm512_add_ps(v, _mm512_permute_ps(v, 0xB1));
  return _mm512_cvtss_f32(v);
}

// C = alpha·A·Bᵀ + beta·C for MR rows of A [MR,K] and B [N,K] (a Linear weight): dot products along K, 8/MR rows of
// B at a time (at least 2), each read as one contiguous run, the lane sums taken once per element of C.
template <int MR>
inline void skinny_times_transposed(std::int64_t N, std::int64_t K, float alpha, const float* A, std::int64_t lda,
                                    const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc) {
  constexpr int NB = MR >= 4 ? 2 : 8 / MR;
  std::int64_t j = 0;
  auto block = [&]<int W>(std::integral_constant<int, W>) {
    __m512 acc[MR][W];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 16
      for (int n = 0; n < W; ++n) acc[r][n] = _mm512_setzero_ps();
    for (std::int64_t k = 0; k < K; k += 16) {
      const __mmask16 m = lanes(K - k);
      __m512 a[MR];
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) a[r] = _mm512_maskz_loadu_ps(m, A + r * lda + k);
#pragma GCC unroll 16
      for (int n = 0; n < W; ++n) {
        const __m512 b = _mm512_maskz_loadu_ps(m, B + (j + n) * ldb + k);
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) acc[r][n] = _mm512_fmadd_ps(a[r], b, acc[r][n]);
      }
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 16
      for (int n = 0; n < W; ++n) {
        float& c = C[r * ldc + j + n];
        const float dot = alpha * lane_sum(acc[r][n]);
        c = beta != 0.0f ? dot + beta * c : dot;
      }
  };
  for (; j + NB <= N; j += NB) block(std::integral_constant<int, NB>{});
  for (; j < N; ++j) block(std::integral_constant<int, 1>{});
}

template <bool TransB, int MR = 1>
inline void skinny_gemm(std::int64_t M, std::int64_t N, std::int64_t K, float alpha, const float* A,
                        std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc) {
  if constexpr (MR < skinny_rows) {
    if (M > MR) return skinny_gemm<TransB, MR + 1>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
  if constexpr (TransB) skinny_times_transposed<MR>(N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else skinny_times_rows<MR>(N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#endif  // VAE_AVX512_KERNELS

}  // namespace vae::cpu_detail::avx512
