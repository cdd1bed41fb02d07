// Row-major GEMM on the cpu backend through Eigen::Map (Eigen parallelises on the OpenMP pool; with EIGEN_USE_BLAS, bands on the OpenMP pool, one BLAS call each).
#pragma once
#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/avx512_gemm.hpp"
#include "vae/backend/cpu/simd_skinny_gemm.hpp"
#include "vae/backend/cpu/weight_panels.hpp"

#if defined(EIGEN_USE_BLAS)
// OpenBLAS's thread-count setter, weak so that another BLAS (or none) links too: null when it is absent.
extern "C" __attribute__((weak)) void openblas_set_num_threads(int);
#endif

namespace vae::cpu_detail {

template <class T>
using row_major = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using const_map = Eigen::Map<const row_major<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using mut_map = Eigen::Map<row_major<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// C[M,N] = alpha · op(A) · op(B) + beta · C, all row-major with leading dimensions lda, ldb, ldc.
// op(A) is [M,K]: A is [M,K] or, transposed, [K,M]. op(B) is [K,N]: B is [K,N] or, transposed, [N,K].
template <class T>
void gemm_eigen(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A,
          std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc) {
  if (M == 0 || N == 0) return;
  mut_map<T> c(C, M, N, Eigen::OuterStride<>(ldc));
  if (K == 0) {
    if (beta == T(0)) c.setZero(); else c *= beta;
    return;
  }
  const_map<T> a(A, trans_a ? K : M, trans_a ? M : K, Eigen::OuterStride<>(lda));
  const_map<T> b(B, trans_b ? N : K, trans_b ? K : N, Eigen::OuterStride<>(ldb));
  auto run = [&](const auto& lhs, const auto& rhs) {
    if (beta == T(0)) {
      c.noalias() = alpha * (lhs * rhs);
    } else {
      if (beta != T(1)) c *= beta;
      c.noalias() += alpha * (lhs * rhs);
    }
  };
  if (trans_a && trans_b) run(a.transpose(), b.transpose());
  else if (trans_a) run(a.transpose(), b);
  else if (trans_b) run(a, b.transpose());
  else run(a, b);
}

// A no-op band epilogue (see gemm_bands).
struct no_epilogue {
  void operator()(std::int64_t, std::int64_t, std::int64_t, std::int64_t) const {}
};

// One product's arguments (gemm_bands, gemm_pair).
template <class T>
struct gemm_call {
  bool trans_a, trans_b;
  std::int64_t M, N, K;
  T alpha;
  const T* A;
  std::int64_t lda;
  const T* B;
  std::int64_t ldb;
  T beta;
  T* C;
  std::int64_t ldc;
};

#if defined(EIGEN_USE_BLAS)
// With EIGEN_USE_BLAS the products go straight to BLAS's ?gemm_ (Eigen's own BLAS route first zeroes C, then calls
// it with beta = 1: one wasted pass over C per product). A pthread OpenBLAS keeps its own thread pool, which fights
// the OpenMP pool (spinning OpenMP workers against OpenBLAS workers on the same cores: mlp-vae steps 3-10x slower
// on 2 cores). So BLAS runs single-threaded and the product is split here over the one OpenMP pool: each thread
// computes a band of C's rows (or columns, when C is wider than tall) with one BLAS call over the full K.
template <class T>
void blas_gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A,
               std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc) {
  static const bool single = [] {  // once per program: BLAS itself stays single-threaded (see above)
    if (openblas_set_num_threads) openblas_set_num_threads(1);
    return true;
  }();
  (void)single;
  if (M == 0 || N == 0) return;
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    // Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: swap the operands, keep each one's transpose.
    const char ta = trans_b ? 'T' : 'N', tb = trans_a ? 'T' : 'N';
    const int m = static_cast<int>(N), n = static_cast<int>(M), k = static_cast<int>(K);
    const int la = static_cast<int>(ldb), lb = static_cast<int>(lda), lc = static_cast<int>(ldc);
    if (K == 0) {  // BLAS leaves C alone only for beta = 1; be explicit for the other cases
      gemm_eigen<T>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      return;
    }
    if constexpr (std::is_same_v<T, float>)
      sgemm_(&ta, &tb, &m, &n, &k, &alpha, B, &la, A, &lb, &beta, C, &lc);
    else
      dgemm_(&ta, &tb, &m, &n, &k, &alpha, B, &la, A, &lb, &beta, C, &lc);
  } else {
    gemm_eigen<T>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
}

#endif

// One product on the calling thread alone (inside a parallel region, or for products too small to split): vae's
// AVX-512 kernel for float where it is compiled in, else (float, a Linear's few-row products) the vector-extension
// dot products of simd_skinny_gemm.hpp, else BLAS (single-threaded) or Eigen's serial product.
template <class T>
void gemm_serial(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a, std::int64_t lda,
                 const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  if constexpr (std::is_same_v<T, float>) {
    if constexpr (avx512::available) {
      if (avx512::gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;
    } else {
      if (simd::gemm_skinny(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;
    }
  }
#if defined(EIGEN_USE_BLAS)
  blas_gemm<T>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
  gemm_eigen<T>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);  // inside a parallel region Eigen runs serially
#endif
}

// Band `part` of `parts` of [0, len) in whole multiples of `align`: [first, second), empty past the end.
inline std::pair<std::int64_t, std::int64_t> band_of(std::int64_t len, std::int64_t part, std::int64_t parts,
                                                     std::int64_t align) {
  const std::int64_t per = ((len + parts - 1) / parts + align - 1) / align * align;
  const std::int64_t b0 = std::min(len, part * per);
  return {b0, std::min(len, b0 + per)};
}

// Whether an M×N×K product is split over the pool: more than one thread, not already inside a parallel region, at
// least 2 MFLOP, and at least two 16-float widths along the split dimension.
inline bool split_product(int threads, std::int64_t M, std::int64_t N, std::int64_t K) {
#if defined(_OPENMP)
  return threads > 1 && !omp_in_parallel() && 2 * M * N * K >= (std::int64_t{1} << 21) && std::max(M, N) >= 2 * 16;
#else
  (void)threads, (void)M, (void)N, (void)K;
  return false;
#endif
}

// Band `part` of `parts` of one product (rows of C when it is taller than wide, else columns; bands in whole 16-float
// SIMD widths), computed by the calling thread alone, then epilogue(r0, r1, c0, c1) on that band.
template <class T, class Epilogue = no_epilogue>
void gemm_part(const gemm_call<T>& g, std::int64_t part, std::int64_t parts, Epilogue&& epilogue = {}) {
  const bool by_rows = g.M >= g.N;
  const auto [b0, b1] = band_of(by_rows ? g.M : g.N, part, parts, 16);
  if (b1 <= b0) return;
  const auto serial = [](auto... args) { gemm_serial<T>(args...); };
  if (by_rows) {
    serial(g.trans_a, g.trans_b, b1 - b0, g.N, g.K, g.alpha, g.trans_a ? g.A + b0 : g.A + b0 * g.lda, g.lda, g.B,
           g.ldb, g.beta, g.C + b0 * g.ldc, g.ldc);
    epilogue(b0, b1, std::int64_t{0}, g.N);
  } else {
    serial(g.trans_a, g.trans_b, g.M, b1 - b0, g.K, g.alpha, g.A, g.lda, g.trans_b ? g.B + b0 * g.ldb : g.B + b0,
           g.ldb, g.beta, g.C + b0, g.ldc);
    epilogue(std::int64_t{0}, g.M, b0, b1);
  }
}

#if defined(EIGEN_USE_BLAS)
inline constexpr bool blas_build = true;
#else
inline constexpr bool blas_build = false;
#endif

// Products split into bands over the OpenMP pool, one serial product per thread (BLAS single-threaded, or our AVX-512
// kernel), rather than left to Eigen's own parallel product.
template <class T>
inline constexpr bool banded_gemm = blas_build || (std::is_same_v<T, float> && avx512::available);

// C = alpha·op(A)·op(B) + beta·C, then epilogue(r0, r1, c0, c1) on each finished band of C (rows [r0, r1), columns
// [c0, c1)) by the thread that computed it, while the band is still in its cache. Without banded products, Eigen
// parallelises the product inside and the epilogue then runs over bands of 16 rows in parallel.
template <class T, class Epilogue = no_epilogue>
void gemm_bands(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A,
                std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc,
                Epilogue&& epilogue = {}) {
  if constexpr (banded_gemm<T>) {
    const gemm_call<T> g{trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc};
#if defined(_OPENMP)
    const int threads = max_threads();
    if (split_product(threads, M, N, K)) {
#pragma omp parallel num_threads(threads)
      gemm_part(g, omp_get_thread_num(), omp_get_num_threads(), epilogue);
      return;
    }
#endif
    gemm_part(g, 0, 1, epilogue);
  } else {
    gemm_eigen<T>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    constexpr std::int64_t rows_per_band = 16;
    parallel_for((M + rows_per_band - 1) / rows_per_band, M * N, [&](std::int64_t b) {
      epilogue(b * rows_per_band, std::min(M, (b + 1) * rows_per_band), std::int64_t{0}, N);
    });
  }
}

#if defined(VAE_AVX512_KERNELS)
// C[M,N] = A·Wᵀ (C overwritten) for A [M,K] (lda) and the inference panels of a weight W [N,K] (weight_panels.hpp),
// split over the OpenMP pool as gemm_bands splits a product (bands of columns in whole panels), then epilogue on each
// finished band. Bit for bit gemm_bands(false, true, …) of W for more than avx512::skinny_rows rows.
template <class Epilogue = no_epilogue>
void gemm_from_panels_bands(std::int64_t M, std::int64_t N, std::int64_t K, const float* A, std::int64_t lda,
                            const float* panels, float* C, std::int64_t ldc, Epilogue&& epilogue = {}) {
  const bool by_rows = M >= N;
  auto part = [&](std::int64_t t, std::int64_t parts) {
    const auto [b0, b1] = band_of(by_rows ? M : N, t, parts, by_rows ? 16 : weight_panel_width);
    if (b1 <= b0) return;
    if (by_rows) {
      avx512::gemm_from_panels(b1 - b0, N, K, A + b0 * lda, lda, panels, C + b0 * ldc, ldc);
      epilogue(b0, b1, std::int64_t{0}, N);
    } else {
      avx512::gemm_from_panels(M, b1 - b0, K, A, lda, panels + b0 * K, C + b0, ldc);
      epilogue(std::int64_t{0}, M, b0, b1);
    }
  };
#if defined(_OPENMP)
  const int threads = max_threads();
  if (split_product(threads, M, N, K)) {
#pragma omp parallel num_threads(threads)
    part(omp_get_thread_num(), omp_get_num_threads());
    return;
  }
#endif
  part(0, 1);
}
#endif

template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A,
          std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc) {
  if constexpr (banded_gemm<T>)
    gemm_bands<T>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, no_epilogue{});
  else
    gemm_eigen<T>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
template <class T>
void gemm(const gemm_call<T>& g) {
  gemm<T>(g.trans_a, g.trans_b, g.M, g.N, g.K, g.alpha, g.A, g.lda, g.B, g.ldb, g.beta, g.C, g.ldc);
}

// Two independent products at once: half of the pool computes `first` in bands; `second` is cut into chunks of rows
// (or columns) that every thread takes from a shared counter, the first half joining when its band of `first` is
// done. A linear layer's dx and dW products have equal flops but not equal speed (dW's C is cold: last touched by
// the optimizer), so a fixed split left the dx thread waiting. Each chunk is computed whole by whichever thread
// takes it, so the result does not depend on the schedule. One fork/join instead of two.
template <class T>
void gemm_pair(const gemm_call<T>& first, const gemm_call<T>& second) {
#if defined(_OPENMP)
  const int threads = max_threads();
  if (threads > 1 && !omp_in_parallel()) {
    const std::int64_t chunks = 4 * threads;
    std::atomic<std::int64_t> next{0};
#pragma omp parallel num_threads(threads)
    {
      const std::int64_t t = omp_get_thread_num(), nt = omp_get_num_threads(), half = std::max<std::int64_t>(1, nt / 2);
      if (t < half) gemm_part(first, t, half);
      for (std::int64_t c = next.fetch_add(1); c < chunks; c = next.fetch_add(1)) gemm_part(second, c, chunks);
    }
    return;
  }
#endif
  gemm(first);
  gemm(second);
}

// Instantiating gemm costs ~10 s of compile time per translation unit at -O3 (Eigen's kernels for every transpose
// case). A program with many translation units (our test suite) defines VAE_EXTERN_GEMM and instantiates both
// types once (see tests/gemm_instances.cpp); header-only users need do nothing.
#ifdef VAE_EXTERN_GEMM
extern template void gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*,
                                 std::int64_t, const float*, std::int64_t, float, float*, std::int64_t);
extern template void gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double, const double*,
                                  std::int64_t, const double*, std::int64_t, double, double*, std::int64_t);
// The AVX-512 kernel too: every banded product with an epilogue reaches it (2 s of -O3 per translation unit).
extern template bool avx512::gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*,
                                         std::int64_t, const float*, std::int64_t, float, float*, std::int64_t);
#if defined(VAE_AVX512_KERNELS)
extern template void avx512::gemm_windows<float>(std::int64_t, std::int64_t, std::int64_t, const avx512::window_rows&,
                                                 const float*, std::int64_t, float*, std::int64_t);
extern template void avx512::gemm_windows_weight<float>(std::int64_t, std::int64_t, std::int64_t, const float*,
                                                        std::int64_t, const avx512::window_rows&, float*, std::int64_t);
#endif
#endif

}  // namespace vae::cpu_detail
