// Serial float GEMM with AVX-512 register tiles over small L1 panels, for the products of our models (one thread's band).
#pragma once
#include <algorithm>
#include <concepts>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "vae/backend/cpu/avx512.hpp"  // VAE_AVX512_KERNELS: built only where the compiler targets AVX-512
#include "vae/backend/cpu/avx512_skinny_gemm.hpp"

namespace vae::cpu_detail::avx512 {

#if defined(VAE_AVX512_KERNELS)

// Why not BLAS for these: our products are small (M = 128 rows, K of a few hundred), so a BLAS call spends a
// sizeable share of its time packing both operands into its own layout (7-10% of an MLP step on OpenBLAS) and, for
// beta = 0, clearing C first. Here neither operand is copied:
//   * op(B) = B (row-major [K,N]): a broadcast kernel. Rows of B are read in place, 32 columns (two registers) at a
//     time; each element of op(A) is broadcast from where it lies (A or Aᵀ: only the stride differs).
//   * op(B) = Bᵀ (B is [N,K], the Linear weight layout) with op(A) = A: the same kernel over blocks of Bᵀ transposed
//     in registers into a small L1 buffer (a dot-product kernel along K ran at 55% of peak: the lane sums at the
//     end of each tile cost as much as the products for K of a few hundred).

// Broadcast kernel's tile: MR rows of C by up to 32 columns; the panel of B (kc × 32) stays in L1 across row tiles.
inline constexpr std::int64_t bcast_rows = 8;
inline constexpr std::int64_t bcast_kc = 128;

// Σ_k a(r, k)·B[k, :] over a kc-row panel of B into a tile's accumulators (MR rows by up to 32 columns, masks
// m0/m1). a(r, k) = TransA ? a[k·lda + r] : rows[r][k]: op(A)ᵀ is read at a stride, op(A)'s rows through one pointer
// each (a strided A, or the windows of an image read in place; see window_rows).
// Always inlined: the accumulators must stay in registers (a call would pass them through memory, 2.5x slower).
template <int MR, bool Two, bool TransA>
[[gnu::always_inline]] inline void bcast_accumulate(std::int64_t kc, const float* a, std::int64_t lda, const float* const* rows,
                             const float* b, std::int64_t ldb, __mmask16 m0, __mmask16 m1, __m512* acc0, __m512* acc1) {
  const float* row[MR];
  if constexpr (!TransA) {
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) row[r] = rows[r];
  }
  for (std::int64_t k = 0; k < kc; ++k) {
    const float* bk = b + k * ldb;
    const __m512 b0 = _mm512_maskz_loadu_ps(m0, bk);
    const __m512 b1 = Two ? _mm512_maskz_loadu_ps(m1, bk + 16) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512 av = _mm512_set1_ps(TransA ? a[k * lda + r] : row[r][k]);
      acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
      if constexpr (Two) acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
    }
  }
}

// bcast_accumulate for op(A) = A row-major at a stride: rows r of the tile addressed from two pointers (rows 0-3 and
// 4-7) and multiples of lda, not one pointer per row. Eight row pointers, the panel's pointer and the loop counters
// outnumber the general registers, and GCC 12 then kept some row pointers on the stack and reloaded one per
// broadcast (10-13% slower products, depending on what it inlined around the kernel). The same sums in the same order.
template <int MR, bool Two>
[[gnu::always_inline]] inline void bcast_accumulate_strided(std::int64_t kc, const float* a, std::int64_t lda,
                                                            const float* b, std::int64_t ldb, __mmask16 m0,
                                                            __mmask16 m1, __m512* acc0, __m512* acc1) {
  const float* a0 = a;
  const float* a4 = a + 4 * lda;
  const std::int64_t l2 = 2 * lda, l3 = 3 * lda;
  for (std::int64_t k = 0; k < kc; ++k, ++a0, ++a4) {
    const float* bk = b + k * ldb;
    const __m512 b0 = _mm512_maskz_loadu_ps(m0, bk);
    const __m512 b1 = Two ? _mm512_maskz_loadu_ps(m1, bk + 16) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const float* base = r < 4 ? a0 : a4;
      const int rr = r & 3;
      const __m512 av = _mm512_set1_ps(rr == 0 ? base[0] : rr == 1 ? base[lda] : rr == 2 ? base[l2] : base[l3]);
      acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
      if constexpr (Two) acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
    }
  }
}

// C tile = alpha·acc + (first ? beta·C : C) (beta = 0: C is not read).
template <int MR, bool Two>
[[gnu::always_inline]] inline void bcast_store(const __m512* acc0, const __m512* acc1, __mmask16 m0, __mmask16 m1, float* c, std::int64_t ldc,
                        float alpha, float beta, bool first) {
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    float* cr = c + r * ldc;
    __m512 o0 = _mm512_mul_ps(va, acc0[r]);
    if (!first) o0 = _mm512_add_ps(o0, _mm512_maskz_loadu_ps(m0, cr));
    else if (beta != 0.0f) o0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), o0);
    _mm512_mask_storeu_ps(cr, m0, o0);
    if constexpr (Two) {
      __m512 o1 = _mm512_mul_ps(va, acc1[r]);
      if (!first) o1 = _mm512_add_ps(o1, _mm512_maskz_loadu_ps(m1, cr + 16));
      else if (beta != 0.0f) o1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), o1);
      _mm512_mask_storeu_ps(cr + 16, m1, o1);
    }
  }
}

// op(A) read through row pointers: A [M,K] row-major at a stride (lda), or the implicit im2col of window_rows.
// segment(k) is the number of columns from k on that stay contiguous in every row; rows(i, mr, k, out) gives the
// pointers to column k of rows i … i + mr − 1.
struct strided_rows {
  const float* A;
  std::int64_t lda;
  static constexpr std::int64_t segment(std::int64_t) { return std::int64_t{1} << 62; }
  void rows(std::int64_t i, std::int64_t mr, std::int64_t k, const float** out) const {
    for (std::int64_t r = 0; r < mr; ++r) out[r] = A + (i + r) * lda + k;
  }
};

// Zeros read in place of a window entry that falls on the padding (at most bcast_kc columns of one row at a time).
alignas(64) inline constexpr float zero_run[bcast_kc] = {};

// The columns of a convolution read in place from a channels-last image (implicit im2col): row i, column
// tap·c + ch is x[offsets[i·taps + tap] + ch], or 0 where the offset is negative (padding). Runs of c columns.
struct window_rows {
  const float* x;
  const std::int32_t* offsets;
  std::int64_t taps, c;
  std::int64_t segment(std::int64_t k) const { return c - k % c; }
  void rows(std::int64_t i, std::int64_t mr, std::int64_t k, const float** out) const {
    const std::int64_t tap = k / c, ch = k % c;
    for (std::int64_t r = 0; r < mr; ++r) {
      const std::int32_t o = offsets[(i + r) * taps + tap];
      out[r] = o >= 0 ? x + o + ch : zero_run;
    }
  }
};

// C tile (MR rows by up to 32 columns) = alpha·Σ_k a(r, k)·B[k, :] + (first ? beta·C : C) over a kc-row panel,
// op(A) read from `src` (row pointers, a run of contiguous columns at a time) or, TransA, at a stride.
template <int MR, bool Two, bool TransA, class Rows>
inline void bcast_tile(std::int64_t kc, const Rows& src, std::int64_t i, std::int64_t k0, const float* b,
                       std::int64_t ldb, __mmask16 m0, __mmask16 m1, float* c, std::int64_t ldc, float alpha,
                       float beta, bool first) {
  __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    acc0[r] = _mm512_setzero_ps();
    acc1[r] = _mm512_setzero_ps();
  }
  if constexpr (TransA) {
    bcast_accumulate<MR, Two, true>(kc, src.A + k0 * src.lda + i, src.lda, nullptr, b, ldb, m0, m1, acc0, acc1);
  } else if constexpr (std::is_same_v<Rows, strided_rows>) {
    bcast_accumulate_strided<MR, Two>(kc, src.A + i * src.lda + k0, src.lda, b, ldb, m0, m1, acc0, acc1);
  } else {
    for (std::int64_t k = k0; k < k0 + kc;) {
      const std::int64_t len = std::min(k0 + kc - k, src.segment(k));
      const float* rows[MR];
      src.rows(i, MR, k, rows);
      bcast_accumulate<MR, Two, false>(len, nullptr, 0, rows, b + (k - k0) * ldb, ldb, m0, m1, acc0, acc1);
      k += len;
    }
  }
  bcast_store<MR, Two>(acc0, acc1, m0, m1, c, ldc, alpha, beta, first);
}

template <bool Two, bool TransA, class Rows>
inline void bcast_rows_dispatch(std::int64_t mr, std::int64_t kc, const Rows& src, std::int64_t i, std::int64_t k0,
                                const float* b, std::int64_t ldb, __mmask16 m0, __mmask16 m1, float* c,
                                std::int64_t ldc, float alpha, float beta, bool first) {
  switch (mr) {
    case 8: bcast_tile<8, Two, TransA>(kc, src, i, k0, b, ldb, m0, m1, c, ldc, alpha, beta, first); break;
    case 7: bcast_tile<7, Two, TransA>(kc, src, i, k0, b, ldb, m0, m1, c, ldc, alpha, beta, first); break;
    case 6: bcast_tile<6, Two, TransA>(kc, src, i, k0, b, ldb, m0, m1, c, ldc, alpha, beta, first); break;
    case 5: bcast_tile<5, Two, TransA>(kc, src, i, k0, b, ldb, m0, m1, c, ldc, alpha, beta, first); break;
    case 4: bcast_tile<4, Two, TransA>(kc, src, i, k0, b, ldb, m0, m1, c, ldc, alpha, beta, first); break;
    case 3: bcast_tile<3, Two, TransA>(kc, src, i, k0, b, ldb, m0, m1, c, ldc, alpha, beta, first); break;
    case 2: bcast_tile<2, Two, TransA>(kc, src, i, k0, b, ldb, m0, m1, c, ldc, alpha, beta, first); break;
    default: bcast_tile<1, Two, TransA>(kc, src, i, k0, b, ldb, m0, m1, c, ldc, alpha, beta, first); break;
  }
}

// 16×16 transpose in registers: four butterfly stages, each swapping the off-diagonal b×b blocks of row pairs.
inline void transpose16(__m512 r[16]) {
#pragma GCC unroll 4
  for (int b = 8; b >= 1; b /= 2) {
    alignas(64) int lo[16], hi[16];
    for (int l = 0; l < 16; ++l) {
      lo[l] = (l & b) ? 16 + l - b : l;
      hi[l] = (l & b) ? 16 + l : l + b;
    }
    const __m512i ilo = _mm512_load_si512(lo), ihi = _mm512_load_si512(hi);
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) {
      if (i & b) continue;
      const __m512 x = r[i], y = r[i + b];
      r[i] = _mm512_permutex2var_ps(x, ilo, y);
      r[i + b] = _mm512_permutex2var_ps(x, ihi, y);
    }
  }
}

// panel[k·32 + jj] = B[(j + jj)·ldb + k0 + k] for k < kc, jj < 32 (rows jj ≥ w read as zero): the kc × 32 block of
// Bᵀ the broadcast kernel reads, from B [N,K] row-major.
inline void pack_transposed(const float* B, std::int64_t ldb, std::int64_t w, std::int64_t kc, float* panel) {
  __m512 r[16];
  for (std::int64_t k = 0; k < kc; k += 16) {
    const __mmask16 mk = lanes(kc - k);
    for (std::int64_t h = 0; h < 32; h += 16) {
#pragma GCC unroll 16
      for (int jj = 0; jj < 16; ++jj)
        r[jj] = h + jj < w ? _mm512_maskz_loadu_ps(mk, B + (h + jj) * ldb + k) : _mm512_setzero_ps();
      transpose16(r);
      const std::int64_t rows = std::min<std::int64_t>(16, kc - k);
      for (std::int64_t kk = 0; kk < rows; ++kk) _mm512_store_ps(panel + (k + kk) * 32 + h, r[kk]);
    }
  }
}

// panel[k·32 + jj] = B[(k0 + k)·ldb + j + jj] for k < kc, jj < w: a kc × 32 block of B [K,N] made contiguous. Rows of B
// a power-of-two apart fall into a few L1 sets; packed, the block stays in L1 for all row tiles.
inline void pack_rows(const float* B, std::int64_t ldb, std::int64_t w, std::int64_t kc, float* panel) {
  const __mmask16 m0 = lanes(w), m1 = lanes(w - 16);
  for (std::int64_t k = 0; k < kc; ++k) {
    _mm512_store_ps(panel + k * 32, _mm512_maskz_loadu_ps(m0, B + k * ldb));
    _mm512_store_ps(panel + k * 32 + 16, _mm512_maskz_loadu_ps(m1, B + k * ldb + 16));
  }
}

// Asks for the cache lines of n floats from p to come into L2: the next panel's source is fetched while the current
// one is multiplied (the transposing pack reads 32 rows at a stride, which the hardware prefetchers do not follow).
inline void prefetch_l2(const float* p, std::int64_t n) {
  const char* c = reinterpret_cast<const char*>(p);
  for (std::int64_t b = 0; b < n * 4; b += 64) _mm_prefetch(c + b, _MM_HINT_T1);
  _mm_prefetch(c + n * 4 - 1, _MM_HINT_T1);
}

// The three sources of kc × 32 panels of op(B) for gemm_panels; prefetch(…, t, T) fetches slice t of T of a block.
struct transposed_panels {  // op(B) = Bᵀ, B [N,K]: transposed into the buffer
  const float* B;
  std::int64_t ldb;
  static constexpr std::int64_t stride = 32;
  // 512 rows of Bᵀ per pack: each of B's 32 rows is then read 2 KiB at a time, long enough for the hardware
  // prefetcher (a 128-deep pack read 32 rows 512 bytes each and ran the forward of an MLP at 80% of the other products).
  static constexpr std::int64_t depth = 512;
  static constexpr std::int64_t buffer_floats = depth * 32;
  const float* operator()(std::int64_t j, std::int64_t w, std::int64_t k0, std::int64_t kc, float* buffer) const {
    pack_transposed(B + j * ldb + k0, ldb, w, kc, buffer);
    return buffer;
  }
  void prefetch(std::int64_t j, std::int64_t w, std::int64_t k0, std::int64_t kd, std::int64_t t, std::int64_t T) const {
    const std::int64_t per_row = (kd + 15) / 16;  // cache lines of one row of B (ends rounded up)
    for (std::int64_t l = t; l < w * per_row; l += T)
      _mm_prefetch(reinterpret_cast<const char*>(B + (j + l / per_row) * ldb + k0 + (l % per_row) * 16), _MM_HINT_T1);
  }
};
struct copied_panels {  // op(B) = B [K,N]: copied into the buffer
  const float* B;
  std::int64_t ldb;
  static constexpr std::int64_t stride = 32;
  static constexpr std::int64_t depth = bcast_kc;
  static constexpr std::int64_t buffer_floats = depth * 32;
  const float* operator()(std::int64_t j, std::int64_t w, std::int64_t k0, std::int64_t kc, float* buffer) const {
    pack_rows(B + k0 * ldb + j, ldb, w, kc, buffer);
    return buffer;
  }
  void prefetch(std::int64_t j, std::int64_t w, std::int64_t k0, std::int64_t kc, std::int64_t t, std::int64_t T) const {
    for (std::int64_t k = t; k < kc; k += T) prefetch_l2(B + (k0 + k) * ldb + j, w);
  }
};
struct in_place_panels {  // op(B) = B [K,N]: read where it lies
  const float* B;
  std::int64_t ldb, stride;
  static constexpr std::int64_t depth = std::int64_t{1} << 62;  // all of K at once: nothing is copied
  static constexpr std::int64_t buffer_floats = 16;
  const float* operator()(std::int64_t j, std::int64_t, std::int64_t k0, std::int64_t, float*) const {
    return B + k0 * ldb + j;
  }
  void prefetch(std::int64_t j, std::int64_t w, std::int64_t k0, std::int64_t kc, std::int64_t t, std::int64_t T) const {
    for (std::int64_t k = t; k < kc; k += T) prefetch_l2(B + (k0 + k) * ldb + j, w);
  }
};

struct prepacked_panels {  // op(B) = Bᵀ transposed once for the whole product: panel p is K × 32 at data + p·K·32
  const float* data;
  std::int64_t K;
  static constexpr std::int64_t stride = 32;
  static constexpr std::int64_t depth = std::int64_t{1} << 62;
  static constexpr std::int64_t buffer_floats = 16;
  const float* operator()(std::int64_t j, std::int64_t, std::int64_t k0, std::int64_t, float*) const {
    return data + (j / 32) * K * 32 + k0 * 32;
  }
  void prefetch(std::int64_t j, std::int64_t, std::int64_t k0, std::int64_t kd, std::int64_t t, std::int64_t T) const {
    const float* p = data + (j / 32) * K * 32 + k0 * 32;
    for (std::int64_t l = t; l < kd * 2; l += T) _mm_prefetch(reinterpret_cast<const char*>(p + l * 16), _MM_HINT_T1);
  }
};

// op(B) = the columns of a convolution [rows, taps·c] gathered from its channels-last input (see window_rows):
// row k, column tap·c + ch is x[offsets[k·taps + tap] + ch] (0 for a negative offset). Copied into the buffer a
// panel at a time (instead of im2col's copy of all the columns, then a read of them).
struct gathered_panels {
  const float* x;
  const std::int32_t* offsets;
  std::int64_t taps, c;
  static constexpr std::int64_t stride = 32;
  static constexpr std::int64_t depth = bcast_kc;
  static constexpr std::int64_t buffer_floats = depth * 32;
  const float* operator()(std::int64_t j, std::int64_t w, std::int64_t k0, std::int64_t kd, float* buffer) const {
    for (std::int64_t jj = 0; jj < 32;) {  // runs of columns inside one window entry (all 32 when c % 32 == 0)
      const std::int64_t col = j + jj, tap = col / c, ch = col % c;
      const std::int64_t len = jj < w ? std::min(w - jj, c - ch) : 32 - jj;  // columns ≥ w: zeros
      const __mmask16 m0 = lanes(std::min<std::int64_t>(len, 16)), m1 = lanes(len - 16);
      for (std::int64_t k = 0; k < kd; ++k) {
        float* out = buffer + k * 32 + jj;
        const std::int32_t o = jj < w ? offsets[(k0 + k) * taps + tap] : -1;
        const float* src = o >= 0 ? x + o + ch : zero_run;
        _mm512_mask_storeu_ps(out, m0, _mm512_maskz_loadu_ps(m0, src));
        if (len > 16) _mm512_mask_storeu_ps(out + 16, m1, _mm512_maskz_loadu_ps(m1, src + 16));
      }
      jj += len;
    }
    return buffer;
  }
  void prefetch(std::int64_t j, std::int64_t, std::int64_t k0, std::int64_t kd, std::int64_t t, std::int64_t T) const {
    const std::int64_t tap = j / c, ch = j % c;
    for (std::int64_t k = t; k < kd; k += T) {
      const std::int32_t o = offsets[(k0 + k) * taps + tap];
      if (o < 0) continue;
      _mm_prefetch(reinterpret_cast<const char*>(x + o + ch), _MM_HINT_T1);  // the panel's 32 floats: two lines
      _mm_prefetch(reinterpret_cast<const char*>(x + o + ch + 31), _MM_HINT_T1);
    }
  }
};

// Rows of C per block: the block's rows of op(A) (mc × kc) stay in L2 while the panels of B pass by.
inline constexpr std::int64_t block_rows = 128;

// C[M,N] = alpha·op(A)·op(B) + beta·C, op(A)[i, k] = TransA ? A[k·lda + i] : A[i·lda + k]. pack(j, w, k0, kd, buffer)
// returns the kd × 32 block of op(B) at rows k0…, columns j… (w of them valid; kd ≤ pack.depth), rows pack.stride
// apart: copied into buffer, or in place. Each block is multiplied bcast_kc rows at a time. K ≥ 1.
// Never inlined: where GCC 12 inlined it (and propagated a constant stride into it), it kept the tile's eight row
// pointers on the stack and reloaded one per broadcast, 10-13% slower.
template <bool TransA, class Pack, class Rows = strided_rows>
[[gnu::noinline]] inline void gemm_panels(std::int64_t M, std::int64_t N, std::int64_t K, float alpha, const Rows& src, float beta,
                        float* C, std::int64_t ldc, Pack&& pack) {
  using source = std::remove_cvref_t<Pack>;
  constexpr std::int64_t depth = source::depth;
  const std::int64_t ldp = pack.stride;
  alignas(64) float buffer[source::buffer_floats];
  for (std::int64_t i0 = 0; i0 < M; i0 += block_rows) {
    const std::int64_t i1 = std::min(M, i0 + block_rows);
    const std::int64_t tiles = (i1 - i0 + bcast_rows - 1) / bcast_rows;
    for (std::int64_t j = 0; j < N; j += 32) {
      const std::int64_t w = std::min<std::int64_t>(32, N - j);
      const __mmask16 m0 = lanes(w), m1 = lanes(w - 16);
      // C's tiles are fetched one tile ahead (cold in a training step: the gradient buffers were last touched by the
      // optimizer), also when they are only written (a store miss first reads the line).
      auto prefetch_c = [&](std::int64_t i) {
        for (std::int64_t r = i; r < std::min(i1, i + bcast_rows); ++r) {
          _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc + j), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc + j + w - 1), _MM_HINT_T0);
        }
      };
      for (std::int64_t kp = 0; kp < K; kp += depth) {
        const std::int64_t kd = std::min(depth, K - kp);
        const float* block = pack(j, w, kp, kd, buffer);
        // The next block in this loop order is fetched a slice per row tile while this one is multiplied.
        std::int64_t nj = j, nk = kp + depth;
        if (nk >= K) nk = 0, nj = j + 32;
        const bool has_next = nj < N;
        const std::int64_t nw = std::min<std::int64_t>(32, N - nj), nkd = std::min(depth, K - nk);
        const std::int64_t steps = (kd + bcast_kc - 1) / bcast_kc * tiles;
        std::int64_t step = 0;
        for (std::int64_t k0 = kp; k0 < kp + kd; k0 += bcast_kc) {
          const std::int64_t kc = std::min(bcast_kc, kp + kd - k0);
          const float* panel = block + (k0 - kp) * ldp;
          prefetch_c(i0);
          for (std::int64_t i = i0; i < i1; i += bcast_rows) {
            const std::int64_t mr = std::min(bcast_rows, i1 - i);
            if (has_next) pack.prefetch(nj, nw, nk, nkd, step++, steps);
            prefetch_c(i + bcast_rows);
            float* cp = C + i * ldc + j;
            if (w > 16)
              bcast_rows_dispatch<true, TransA>(mr, kc, src, i, k0, panel, ldp, m0, m1, cp, ldc, alpha, beta, k0 == 0);
            else
              bcast_rows_dispatch<false, TransA>(mr, kc, src, i, k0, panel, ldp, m0, m1, cp, ldc, alpha, beta, k0 == 0);
          }
        }
      }
    }
  }
}

// Calls run(panels) with the source of op(B)'s panels that suits the product (B [K,N], or [N,K] when trans_b).
template <class Run>
inline void with_b_panels(bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, const float* B,
                          std::int64_t ldb, Run&& run) {
  // B's rows a multiple of 4 KiB apart (a page each: kc rows overflow the TLB) or many row blocks reusing each panel:
  // B is copied into panels rather than read in place.
  const bool copy_rows = !trans_b && (M > 1024 || ldb % 1024 == 0);
  if ((trans_b || copy_rows) && M > 2 * block_rows) {
    // Many row blocks (a convolution's im2col product): op(B) is packed once for the whole product instead of once
    // per row block, into this thread's scratch (kept between calls: a fresh allocation of this size would be
    // page-faulted in on every call).
    thread_local std::vector<float> scratch;
    const std::int64_t panels = (N + 31) / 32;
    if (static_cast<std::int64_t>(scratch.size()) < panels * K * 32 + 16) scratch.resize(panels * K * 32 + 16);
    float* packed = scratch.data() + (16 - reinterpret_cast<std::uintptr_t>(scratch.data()) / 4 % 16) % 16;
    for (std::int64_t p = 0; p < panels; ++p) {
      const std::int64_t j = p * 32, w = std::min<std::int64_t>(32, N - j);
      for (std::int64_t k0 = 0; k0 < K; k0 += transposed_panels::depth) {
        const std::int64_t kd = std::min(transposed_panels::depth, K - k0);
        if (trans_b) pack_transposed(B + j * ldb + k0, ldb, w, kd, packed + p * K * 32 + k0 * 32);
        else pack_rows(B + k0 * ldb + j, ldb, w, kd, packed + p * K * 32 + k0 * 32);
      }
    }
    run(prepacked_panels{packed, K});
  } else if (trans_b) {
    run(transposed_panels{B, ldb});
  } else if (copy_rows) {
    run(copied_panels{B, ldb});
  } else {
    run(in_place_panels{B, ldb, ldb});
  }
}

// Row-major C[M,N] = alpha·op(A)·op(B) + beta·C (BLAS semantics: with beta = 0, C is not read). Returns false, doing
// nothing, for K = 0 (the caller's fallback scales C by beta). A template (float only) so that a program of many
// translation units can compile it once (VAE_EXTERN_GEMM, see gemm.hpp).
template <class T>
  requires std::same_as<T, float>
bool gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A,
          std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc) {
  if (K <= 0) return false;
  if (M <= 0 || N <= 0) return true;
  if (!trans_a && M <= skinny_rows) {
    if (trans_b) skinny_gemm<true>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else skinny_gemm<false>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return true;
  }
  with_b_panels(trans_b, M, N, K, B, ldb, [&](const auto& panels) {
    if (trans_a) gemm_panels<true>(M, N, K, alpha, strided_rows{A, lda}, beta, C, ldc, panels);
    else gemm_panels<false>(M, N, K, alpha, strided_rows{A, lda}, beta, C, ldc, panels);
  });
  return true;
}

// C = A·op(B) for MR ≤ skinny_rows rows of A [MR,K] (lda), op(B) given as inference panels (weight_panels.hpp):
// G panels at a time, each element of C summed over k = 0 … K−1 in one accumulator, as skinny_times_rows sums it,
// so a frozen store's products equal the unfrozen in-place ones bit for bit. The panels' zero padding is read,
// never stored.
template <int MR, int G>
[[gnu::always_inline]] inline void skinny_panel_group(std::int64_t j, std::int64_t N, std::int64_t K, const float* A,
                                                      std::int64_t lda, const float* P, float* C, std::int64_t ldc) {
  __m512 acc[MR][2 * G];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 16
    for (int v = 0; v < 2 * G; ++v) acc[r][v] = _mm512_setzero_ps();
  for (std::int64_t k = 0; k < K; ++k) {
    __m512 b[2 * G];
#pragma GCC unroll 16
    for (int g = 0; g < G; ++g) {
      b[2 * g] = _mm512_load_ps(P + g * K * 32 + k * 32);
      b[2 * g + 1] = _mm512_load_ps(P + g * K * 32 + k * 32 + 16);
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512 a = _mm512_set1_ps(A[r * lda + k]);
#pragma GCC unroll 16
      for (int v = 0; v < 2 * G; ++v) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 16
    for (int v = 0; v < 2 * G; ++v)
      _mm512_mask_storeu_ps(C + r * ldc + j + 16 * v, lanes(N - j - 16 * v), acc[r][v]);
}

template <int MR>
inline void skinny_times_panels(std::int64_t N, std::int64_t K, const float* A, std::int64_t lda, const float* panels,
                                float* C, std::int64_t ldc) {
  constexpr int G = 8 / MR > 0 ? 8 / MR : 1;
  const std::int64_t count = (N + 31) / 32;
  std::int64_t p = 0;
  for (; p + G <= count; p += G) skinny_panel_group<MR, G>(p * 32, N, K, A, lda, panels + p * K * 32, C, ldc);
  for (; p < count; ++p) skinny_panel_group<MR, 1>(p * 32, N, K, A, lda, panels + p * K * 32, C, ldc);
}

// The broadcast kernel over inference panels (more than skinny_rows rows of A).
inline void gemm_prepacked(std::int64_t M, std::int64_t N, std::int64_t K, const float* A, std::int64_t lda,
                           const float* panels, float* C, std::int64_t ldc) {
  gemm_panels<false>(M, N, K, 1.0f, strided_rows{A, lda}, 0.0f, C, ldc, prepacked_panels{panels, K});
}

// C[M,N] = A·op(B) (C overwritten), A [M,K] row-major (lda), op(B) given as inference panels (weight_panels.hpp) whose
// first panel holds C's column 0. Serial. Bit for bit gemm(false, true, …) of the weight itself for M > skinny_rows,
// and gemm(false, false, …) of its [K,N] transpose for any M: the same products summed in the same order.
inline void gemm_from_panels(std::int64_t M, std::int64_t N, std::int64_t K, const float* A, std::int64_t lda,
                             const float* panels, float* C, std::int64_t ldc) {
  if (M <= 0 || N <= 0 || K <= 0) return;
  switch (M) {
    case 1: return skinny_times_panels<1>(N, K, A, lda, panels, C, ldc);
    case 2: return skinny_times_panels<2>(N, K, A, lda, panels, C, ldc);
    case 3: return skinny_times_panels<3>(N, K, A, lda, panels, C, ldc);
    case 4: return skinny_times_panels<4>(N, K, A, lda, panels, C, ldc);
    default: return gemm_prepacked(M, N, K, A, lda, panels, C, ldc);
  }
}
static_assert(skinny_rows == 4, "gemm_from_panels: one skinny case per row count up to skinny_rows");

// C[M,N] += alpha·op(A)ᵀ·cols, A [K,M] row-major (lda), with cols [K,N] the columns of a convolution gathered from
// its channels-last input (gathered_panels: no im2col copy): a weight gradient. Serial, bit for bit im2col_cl then
// gemm(true, false, …) with beta = 1 while the panels are not packed for the whole product (M ≤ 2·block_rows).
template <class T>
  requires std::same_as<T, float>
void gemm_windows_weight(std::int64_t M, std::int64_t N, std::int64_t K, const T* A, std::int64_t lda,
                         const window_rows& cols, T* C, std::int64_t ldc) {
  if (M <= 0 || N <= 0 || K <= 0) return;
  gemm_panels<true>(M, N, K, 1.0f, strided_rows{A, lda}, 1.0f, C, ldc,
                    gathered_panels{cols.x, cols.offsets, cols.taps, cols.c});
}

// C[M,N] = cols·B (C overwritten) with cols [M,K] the columns of a convolution read in place from its channels-last
// input (window_rows: no im2col copy), B [K,N] row-major. Serial (one chunk of images per thread). Bit for bit
// im2col then gemm: the same products summed in the same order. A template for VAE_EXTERN_GEMM, as gemm.
template <class T>
  requires std::same_as<T, float>
void gemm_windows(std::int64_t M, std::int64_t N, std::int64_t K, const window_rows& cols, const T* B,
                  std::int64_t ldb, T* C, std::int64_t ldc) {
  if (M <= 0 || N <= 0 || K <= 0) return;
  with_b_panels(false, M, N, K, B, ldb, [&](const auto& panels) {
    gemm_panels<false>(M, N, K, 1.0f, cols, 0.0f, C, ldc, panels);
  });
}

#else
template <class T>
  requires std::same_as<T, float>
bool gemm(bool, bool, std::int64_t, std::int64_t, std::int64_t, T, const T*, std::int64_t, const T*, std::int64_t, T, T*,
          std::int64_t) {
  return false;
}
#endif

}  // namespace vae::cpu_detail::avx512
