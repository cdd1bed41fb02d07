// Float C = alpha·A·Bᵀ + beta·C for one to four rows of A without AVX-512 (vector extensions): a sampled token's products.
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__FMA__)
#include <immintrin.h>
#endif

// The register tiles' loops unrolled in full; nvcc's front end, which reads this host code too, knows no GCC pragma.
#if defined(__CUDACC__)
#define VAE_SIMD_UNROLL
#else
#define VAE_SIMD_UNROLL _Pragma("GCC unroll 8")
#endif

namespace vae::cpu_detail::simd {

// A product with at most skinny_rows rows of A and a Linear weight B [N,K] (a sampled token's products: M = the batch)
// uses each element of B M times only. BLAS packs B into panels first, one more pass over B than the product itself
// and at one row a dearer one, so these dot products read B once where it lies instead.
inline constexpr std::int64_t skinny_rows = 4;

using float8 = float __attribute__((vector_size(32)));

[[gnu::always_inline]] inline float8 load8(const float* p) {
  float8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// a·b + c fused where the cpu has FMA (vector extensions are contracted only under -ffp-contract=fast).
[[gnu::always_inline]] inline float8 fma8(float8 a, float8 b, float8 c) {
#if defined(__FMA__)
  return reinterpret_cast<float8>(_mm256_fmadd_ps(reinterpret_cast<__m256>(a), reinterpret_cast<__m256>(b),
                                                  reinterpret_cast<__m256>(c)));
#else
  return a * b + c;
#endif
}

// The sum of v's 8 lanes, pairwise.
[[gnu::always_inline]] inline float lane_sum(float8 v) {
  return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

// C[:, j..j+W) = alpha·A·B[j..j+W)ᵀ + beta·C for MR rows of A [MR,K] (lda) and W rows of B [N,K] (ldb), each read as
// one contiguous run; K's last K mod 8 terms are added after the lane sum. A function rather than a lambda: written as
// a generic lambda, nvcc (with this project's --expt-relaxed-constexpr) stopped with an internal error, "unsupported
// aggregate constant", in every .cu file that includes gemm.hpp.
template <int MR, int W>
inline void skinny_transposed_block(std::int64_t j, std::int64_t K, float alpha, const float* A, std::int64_t lda,
                                    const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc) {
  const std::int64_t K8 = K / 8 * 8;
  float8 acc[MR][W];
  VAE_SIMD_UNROLL
  for (int r = 0; r < MR; ++r)
    VAE_SIMD_UNROLL
    for (int n = 0; n < W; ++n) acc[r][n] = float8{};
  for (std::int64_t k = 0; k < K8; k += 8) {
    float8 a[MR];
    VAE_SIMD_UNROLL
    for (int r = 0; r < MR; ++r) a[r] = load8(A + r * lda + k);
    VAE_SIMD_UNROLL
    for (int n = 0; n < W; ++n) {
      const float8 b = load8(B + (j + n) * ldb + k);
      VAE_SIMD_UNROLL
      for (int r = 0; r < MR; ++r) acc[r][n] = fma8(a[r], b, acc[r][n]);
    }
  }
  VAE_SIMD_UNROLL
  for (int r = 0; r < MR; ++r)
    VAE_SIMD_UNROLL
    for (int n = 0; n < W; ++n) {
      float dot = lane_sum(acc[r][n]);
      for (std::int64_t k = K8; k < K; ++k) dot += A[r * lda + k] * B[(j + n) * ldb + k];
      float& c = C[r * ldc + j + n];
      c = beta != 0.0f ? alpha * dot + beta * c : alpha * dot;
    }
}

// C = alpha·A·Bᵀ + beta·C for MR rows of A and B [N,K]: 8/MR rows of B at a time (at least 2), then one at a time.
template <int MR>
inline void skinny_times_transposed(std::int64_t N, std::int64_t K, float alpha, const float* A, std::int64_t lda,
                                    const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc) {
  constexpr int NB = MR >= 3 ? 2 : 8 / MR;
  std::int64_t j = 0;
  for (; j + NB <= N; j += NB) skinny_transposed_block<MR, NB>(j, K, alpha, A, lda, B, ldb, beta, C, ldc);
  for (; j < N; ++j) skinny_transposed_block<MR, 1>(j, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <int MR = 1>
inline void skinny_gemm(std::int64_t M, std::int64_t N, std::int64_t K, float alpha, const float* A,
                        std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc) {
  if constexpr (MR < skinny_rows) {
    if (M > MR) return skinny_gemm<MR + 1>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
  skinny_times_transposed<MR>(N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// Row-major C[M,N] = alpha·A·Bᵀ + beta·C (BLAS semantics: with beta = 0, C is not read) when A is not transposed, B
// is, 1 ≤ M ≤ skinny_rows and K ≥ 1; returns false, doing nothing, for every other product.
inline bool gemm_skinny(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
                        const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C,
                        std::int64_t ldc) {
  if (trans_a || !trans_b || M < 1 || M > skinny_rows || K < 1) return false;
  if (N > 0) skinny_gemm(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  return true;
}

}  // namespace vae::cpu_detail::simd

#undef VAE_SIMD_UNROLL
