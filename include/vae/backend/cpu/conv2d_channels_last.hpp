// Channels-last columns of the conv cpu kernels: window runs, im2col_cl/col2im_cl, windows read in place, weight reorders.
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>
#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/conv2d_im2col.hpp"
#include "vae/backend/cpu/gemm.hpp"
#include "vae/core/error.hpp"
#include "vae/ops/conv2d_dims.hpp"

namespace vae {

namespace cpu_detail {

#if defined(__AVX__)
// One 8×8 float tile: d[j·ldd + i] = s[i·lds + j] (unpack pairs of rows, shuffle quads, swap 128-bit halves).
inline void transpose_tile8(const float* s, std::int64_t lds, float* d, std::int64_t ldd) {
  __m256 r[8], t[8], u[8];
  for (int k = 0; k < 8; ++k) r[k] = _mm256_loadu_ps(s + k * lds);
  for (int k = 0; k < 8; k += 2) {
    t[k] = _mm256_unpacklo_ps(r[k], r[k + 1]);
    t[k + 1] = _mm256_unpackhi_ps(r[k], r[k + 1]);
  }
  for (int h = 0; h < 8; h += 4) {  // h = 0: rows 0-3, h = 4: rows 4-7; u[h + q] = columns q | q + 4 of those rows
    u[h + 0] = _mm256_shuffle_ps(t[h + 0], t[h + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[h + 1] = _mm256_shuffle_ps(t[h + 0], t[h + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[h + 2] = _mm256_shuffle_ps(t[h + 1], t[h + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[h + 3] = _mm256_shuffle_ps(t[h + 1], t[h + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int q = 0; q < 4; ++q) {
    _mm256_storeu_ps(d + q * ldd, _mm256_permute2f128_ps(u[q], u[q + 4], 0x20));
    _mm256_storeu_ps(d + (q + 4) * ldd, _mm256_permute2f128_ps(u[q], u[q + 4], 0x31));
  }
}
#endif

// ---- Channels-last columns. With few output positions per image (7×7, 14×14) the NCHW columns above copy runs
// of a handful of strided elements; in channels-last order every window entry is a contiguous run of all c
// channels, so im2col/col2im become vectorised copies/adds of c floats. Used when the sliding-window side has
// at least `channels_last_min` channels (see conv_path below).
inline constexpr std::int64_t channels_last_min = 16;

// One window entry's run of c channels: copied, zeroed, added. Inline (masked AVX-512 for float) rather than
// std::copy_n/fill_n, which call memmove/memset once per entry: with 1–128 channels that call was 4% of a vq-vae
// step.
template <class T>
inline void copy_run(const T* s, std::int64_t c, T* o) {
  if (c == 1) {
    *o = *s;
    return;
  }
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    std::int64_t ch = 0;
    for (; ch + 16 <= c; ch += 16) _mm512_storeu_ps(o + ch, _mm512_loadu_ps(s + ch));
    if (ch < c) {
      const auto m = static_cast<__mmask16>((1u << (c - ch)) - 1u);
      _mm512_mask_storeu_ps(o + ch, m, _mm512_maskz_loadu_ps(m, s + ch));
    }
    return;
  }
#endif
  std::copy_n(s, c, o);
}
template <class T>
inline void zero_run(std::int64_t c, T* o) {
  if (c == 1) {
    *o = T(0);
    return;
  }
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    std::int64_t ch = 0;
    for (; ch + 16 <= c; ch += 16) _mm512_storeu_ps(o + ch, _mm512_setzero_ps());
    if (ch < c) _mm512_mask_storeu_ps(o + ch, static_cast<__mmask16>((1u << (c - ch)) - 1u), _mm512_setzero_ps());
    return;
  }
#endif
  std::fill_n(o, c, T(0));
}
template <class T>
inline void add_run(const T* s, std::int64_t c, T* o) {
  if (c == 1) {
    *o += *s;
    return;
  }
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    std::int64_t ch = 0;
    for (; ch + 16 <= c; ch += 16) _mm512_storeu_ps(o + ch, _mm512_add_ps(_mm512_loadu_ps(o + ch), _mm512_loadu_ps(s + ch)));
    if (ch < c) {
      const auto m = static_cast<__mmask16>((1u << (c - ch)) - 1u);
      _mm512_mask_storeu_ps(o + ch, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, o + ch), _mm512_maskz_loadu_ps(m, s + ch)));
    }
    return;
  }
#endif
  for (std::int64_t ch = 0; ch < c; ++ch) o[ch] += s[ch];
}

// col[(b·oh + y)·ow + x, (i·k_w + j)·c + ch] = src[b, y·s − p + i·d, x·s − p + j·d, ch] (src is [n, h, w, c];
// 0 outside).
template <class T>
void im2col_cl(const window_geometry& g, const T* src, T* col) {
  for (std::int64_t b = 0; b < g.n; ++b)
    for (std::int64_t y = 0; y < g.oh; ++y)
      for (std::int64_t x = 0; x < g.ow; ++x) {
        T* o = col + ((b * g.oh + y) * g.ow + x) * g.k_h * g.k_w * g.c;
        for (std::int64_t i = 0; i < g.k_h; ++i) {
          const std::int64_t iy = y * g.stride_h - g.pad_h + i * g.dil_h;
          for (std::int64_t j = 0; j < g.k_w; ++j, o += g.c) {
            const std::int64_t ix = x * g.stride_w - g.pad_w + j * g.dil_w;
            if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w)
              zero_run(g.c, o);
            else
              copy_run(src + ((b * g.h + iy) * g.w + ix) * g.c, g.c, o);
          }
        }
      }
}
// offsets[r·kk + tap] = where window entry tap = i·k_w + j of column row r = (b·oh + y)·ow + x starts in src
// [n, h, w, c] (the element offset of its run of c channels), or −1 where it reads padding: im2col_cl's rows,
// read in place by the GEMM instead of copied (avx512::window_rows). Element offsets fit 32 bits: a chunk of images
// holds about 1 MiB of columns.
inline void window_offsets(const window_geometry& g, std::int32_t* offsets) {
  for (std::int64_t b = 0; b < g.n; ++b)
    for (std::int64_t y = 0; y < g.oh; ++y)
      for (std::int64_t x = 0; x < g.ow; ++x)
        for (std::int64_t i = 0; i < g.k_h; ++i) {
          const std::int64_t iy = y * g.stride_h - g.pad_h + i * g.dil_h;
          for (std::int64_t j = 0; j < g.k_w; ++j) {
            const std::int64_t ix = x * g.stride_w - g.pad_w + j * g.dil_w;
            const bool inside = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
            *offsets++ = inside ? static_cast<std::int32_t>(((b * g.h + iy) * g.w + ix) * g.c) : -1;
          }
        }
}
// Whether the AVX-512 kernel can read these windows in place (float; element offsets within 32 bits).
template <class T>
bool windows_readable(const window_geometry& g) {
  if constexpr (std::is_same_v<T, float> && avx512::available) {
    return g.n * g.h * g.w * g.c < (std::int64_t{1} << 31);
  } else {
    return false;
  }
}
// Whether a chunk's columns are read in place by the GEMM (float with the AVX-512 kernel) rather than copied by
// im2col_cl. Inside a chunk task only: a product on its own (one chunk, called outside a parallel region) keeps the
// banded GEMM over the pool. Both give the same values bit for bit.
template <class T>
bool windows_in_place(const window_geometry& g) {
  const bool serial = max_threads() == 1
#if defined(_OPENMP)
                      || omp_in_parallel()
#endif
      ;
  return serial && windows_readable<T>(g);
}
// A chunk's columns read in place: x (channels-last) with its window offsets (see window_offsets).
template <class T>
struct window_source {
  const T* x;
  const std::int32_t* offsets;
  std::int64_t taps, c;
};
// C[M,N] = cols·B with the columns of `cols` read in place (only where windows_in_place<T> holds).
template <class T>
void window_product(std::int64_t M, std::int64_t N, std::int64_t K, const window_source<T>& cols, const T* B,
                    std::int64_t ldb, T* C, std::int64_t ldc) {
#if defined(VAE_AVX512_KERNELS)
  if constexpr (std::is_same_v<T, float>) {
    avx512::gemm_windows<T>(M, N, K, avx512::window_rows{cols.x, cols.offsets, cols.taps, cols.c}, B, ldb, C, ldc);
    return;
  }
#endif
  (void)M, (void)N, (void)K, (void)cols, (void)B, (void)ldb, (void)C, (void)ldc;
  check(false, "conv2d: in-place columns need float and the AVX-512 kernels (windows_in_place)");
}
// C[M,N] += Aᵀ·cols (A [K,M]) with the columns of `cols` gathered in place (only where windows_in_place<T> holds).
template <class T>
void window_weight_product(std::int64_t M, std::int64_t N, std::int64_t K, const T* A, std::int64_t lda,
                           const window_source<T>& cols, T* C, std::int64_t ldc) {
#if defined(VAE_AVX512_KERNELS)
  if constexpr (std::is_same_v<T, float>) {
    avx512::gemm_windows_weight<T>(M, N, K, A, lda, avx512::window_rows{cols.x, cols.offsets, cols.taps, cols.c}, C,
                                   ldc);
    return;
  }
#endif
  (void)M, (void)N, (void)K, (void)A, (void)lda, (void)cols, (void)C, (void)ldc;
  check(false, "conv2d: in-place columns need float and the AVX-512 kernels (windows_in_place)");
}
// The windows of g over src (channels-last), read in place: the offsets live in this thread's table, kept between
// calls as the GEMM's packing scratch, and are valid until the next call on this thread.
template <class T>
window_source<T> windows_of(const window_geometry& g, const T* src) {
  thread_local std::vector<std::int32_t> table;
  const auto size = static_cast<std::size_t>(g.n * g.oh * g.ow * g.k_h * g.k_w);
  if (table.size() < size) table.resize(size);
  window_offsets(g, table.data());
  return {src, table.data(), g.k_h * g.k_w, g.c};
}

// The adjoint of im2col_cl: dst [n, h, w, c] = Σ of the col entries that read each element (dst is overwritten;
// every element sums its entries in (b, y, x, i, j) order).
template <class T>
void col2im_cl(const window_geometry& g, const T* col, T* dst) {
  std::fill_n(dst, g.n * g.h * g.w * g.c, T(0));
  for (std::int64_t b = 0; b < g.n; ++b)
    for (std::int64_t y = 0; y < g.oh; ++y)
      for (std::int64_t x = 0; x < g.ow; ++x) {
        const T* o = col + ((b * g.oh + y) * g.ow + x) * g.k_h * g.k_w * g.c;
        for (std::int64_t i = 0; i < g.k_h; ++i) {
          const std::int64_t iy = y * g.stride_h - g.pad_h + i * g.dil_h;
          for (std::int64_t j = 0; j < g.k_w; ++j, o += g.c) {
            const std::int64_t ix = x * g.stride_w - g.pad_w + j * g.dil_w;
            if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
            add_run(o, g.c, dst + ((b * g.h + iy) * g.w + ix) * g.c);
          }
        }
      }
}
// dst[j·ldd + i] = src[i·lds + j] for i < rows, j < cols (serial). Float goes through 8×8 AVX tiles: the
// scalar loop's strided stores were most of a vq-vae conv layer's non-GEMM time.
template <class T>
void transpose_matrix(const T* src, std::int64_t rows, std::int64_t cols, std::int64_t lds, T* dst, std::int64_t ldd) {
#if defined(__AVX__)
  if constexpr (std::is_same_v<T, float>) {
    const std::int64_t rows8 = rows / 8 * 8, cols8 = cols / 8 * 8;
    for (std::int64_t i = 0; i < rows8; i += 8)
      for (std::int64_t j = 0; j < cols8; j += 8) transpose_tile8(src + i * lds + j, lds, dst + j * ldd + i, ldd);
    // The edges: rows ≥ rows8 for every column, then columns ≥ cols8 for the tiled rows.
    for (std::int64_t i = rows8; i < rows; ++i)
      for (std::int64_t j = 0; j < cols; ++j) dst[j * ldd + i] = src[i * lds + j];
    for (std::int64_t i = 0; i < rows8; ++i)
      for (std::int64_t j = cols8; j < cols; ++j) dst[j * ldd + i] = src[i * lds + j];
    return;
  }
#endif
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) dst[j * ldd + i] = src[i * lds + j];
}

// [n, c, p] → [n, p, c] (serial: called inside a chunk task).
template <class T>
void nchw_to_nhwc(std::int64_t n, std::int64_t c, std::int64_t p, const T* src, T* dst) {
  for (std::int64_t b = 0; b < n; ++b) transpose_matrix(src + b * c * p, c, p, p, dst + b * p * c, c);
}
// [n, p, c] → [n, c, p], plus bias[c] when bias is not null (serial).
template <class T>
void nhwc_to_nchw(std::int64_t n, std::int64_t c, std::int64_t p, const T* src, const T* bias, T* dst) {
  for (std::int64_t b = 0; b < n; ++b) {
    T* o = dst + b * c * p;
    transpose_matrix(src + b * p * c, p, c, c, o, p);
    if (!bias) continue;
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t t = 0; t < p; ++t) o[ch * p + t] += bias[ch];
  }
}
// A weight [o, i, kk] (PyTorch order) as [o, kk, i], the channels-last column order.
template <class T>
void weight_to_channels_last(std::int64_t o, std::int64_t i, std::int64_t kk, const T* w, T* r) {
  parallel_for(o, o * i * kk, [&](std::int64_t a) {
    for (std::int64_t c = 0; c < i; ++c)
      for (std::int64_t k = 0; k < kk; ++k) r[(a * kk + k) * i + c] = w[(a * i + c) * kk + k];
  });
}
// The same weight as [kk, i, o], i.e. the channels-last [o, kk·i] transposed: the products that read it as op(B) = Bᵀ
// then read it in place, instead of transposing it again on every chunk of images (8–14% of those products).
template <class T>
void weight_to_channels_last_transposed(std::int64_t o, std::int64_t i, std::int64_t kk, const T* w, T* r) {
  parallel_for(kk * i, o * i * kk, [&](std::int64_t row) {
    const std::int64_t k = row / i, c = row % i;
    for (std::int64_t a = 0; a < o; ++a) r[row * o + a] = w[(a * i + c) * kk + k];
  });
}
// The weight [o, i, k_h, k_w] flipped in both window axes as [kk, o, i]: r[((k_h−1−a)·k_w + k_w−1−b)·o·i + oc·i + ic] =
// w[oc, ic, a, b]. A stride-1 convolution's input gradient is the convolution of dy with this weight (see
// input_grad_windows).
template <class T>
void weight_flipped_for_input_grad(std::int64_t o, std::int64_t i, std::int64_t k_h, std::int64_t k_w, const T* w,
                                   T* r) {
  parallel_for(k_h * k_w, o * i * k_h * k_w, [&](std::int64_t tap) {
    const std::int64_t a = k_h - 1 - tap / k_w, b = k_w - 1 - tap % k_w;
    for (std::int64_t oc = 0; oc < o; ++oc)
      for (std::int64_t ic = 0; ic < i; ++ic) r[(tap * o + oc) * i + ic] = w[((oc * i + ic) * k_h + a) * k_w + b];
  });
}
// The windows over dy [n, out_h, out_w, out_c] whose product with weight_flipped_for_input_grad gives a stride-1
// convolution's input gradient dx [n, in_h, in_w, in_c] directly, with no col2im: dx[q] = Σ_tap dy[q + p − tap·d]·W_tap
// = a convolution of dy padded by d·(k − 1) − p with the flipped kernel.
inline window_geometry input_grad_windows(const conv2d_dims& d, std::int64_t count) {
  return {count, d.out_c, d.out_h, d.out_w, d.k_h, d.k_w, 1, 1, d.dil_h * (d.k_h - 1) - d.pad_h,
          d.dil_w * (d.k_w - 1) - d.pad_w, d.dil_h, d.dil_w, d.in_h, d.in_w};
}
// dst[o, i, kk] += Σ_t partial_t[o, kk, i] over `tasks` buffers of o·kk·i elements, summed in task order.
template <class T>
void add_weight_from_channels_last(std::int64_t o, std::int64_t i, std::int64_t kk, const T* partial,
                                   std::int64_t tasks, T* dst) {
  const std::int64_t size = o * i * kk;
  parallel_for(o, size * tasks, [&](std::int64_t a) {
    for (std::int64_t c = 0; c < i; ++c)
      for (std::int64_t k = 0; k < kk; ++k) {
        T s = 0;
        for (std::int64_t t = 0; t < tasks; ++t) s += partial[t * size + (a * kk + k) * i + c];
        dst[(a * i + c) * kk + k] += s;
      }
  });
}
}  // namespace cpu_detail
}  // namespace vae
