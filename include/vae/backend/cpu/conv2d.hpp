// cpu kernel of the conv2d op: chunks of images through columns (im2col or read in place) + GEMM, or Winograd.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <type_traits>
#include <vector>
#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/gemm.hpp"
#include "vae/backend/cpu/winograd.hpp"
#include "vae/core/error.hpp"
#include "vae/ops/conv2d.hpp"

namespace vae {

namespace cpu_detail {

// Sliding-window geometry shared by im2col/col2im: an image [n, c, h, w] seen through k_h×k_w windows
// giving an [oh, ow] grid.
struct window_geometry {
  std::int64_t n, c, h, w, k_h, k_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh, ow;
};

// Output columns x ∈ [lo, hi) read input column x·stride + off inside [0, w); the rest read padding.
inline void valid_range(std::int64_t ow, std::int64_t w, std::int64_t stride, std::int64_t off, std::int64_t& lo,
                        std::int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
  hi = w - off <= 0 ? 0 : (w - off - 1) / stride + 1;
  if (hi > ow) hi = ow;
  if (lo > hi) lo = hi;
}

// A 1×1 window with stride 1 and no padding: the columns are the image in [c, n·h·w] order.
inline bool pointwise(const window_geometry& g) {
  return g.k_h == 1 && g.k_w == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0 &&
         g.oh == g.h && g.ow == g.w;
}

// col[(c·k_h + i)·k_w + j, b·oh·ow + y·ow + x] = src[b, c, y·s − p + i·d, x·s − p + j·d] (0 outside).
template <class T>
void im2col(const window_geometry& g, const T* src, T* col) {
  const std::int64_t rows = g.c * g.k_h * g.k_w, plane = g.oh * g.ow, cols = g.n * plane;
  if (pointwise(g)) {
    parallel_for(g.c, rows * cols, [&](std::int64_t c) {
      for (std::int64_t b = 0; b < g.n; ++b) std::copy_n(src + (b * g.c + c) * plane, plane, col + c * cols + b * plane);
    });
    return;
  }
  parallel_for(rows, rows * cols, [&](std::int64_t r) {
    const std::int64_t j = r % g.k_w, i = (r / g.k_w) % g.k_h, c = r / (g.k_w * g.k_h);
    const std::int64_t off = j * g.dil_w - g.pad_w, sw = g.stride_w;
    std::int64_t lo, hi;
    valid_range(g.ow, g.w, sw, off, lo, hi);
    T* out = col + r * cols;
    for (std::int64_t b = 0; b < g.n; ++b) {
      const T* img = src + (b * g.c + c) * g.h * g.w;
      for (std::int64_t y = 0; y < g.oh; ++y) {
        const std::int64_t iy = y * g.stride_h - g.pad_h + i * g.dil_h;
        T* o = out + b * plane + y * g.ow;
        if (iy < 0 || iy >= g.h) {
          for (std::int64_t x = 0; x < g.ow; ++x) o[x] = T(0);
          continue;
        }
        const T* row = img + iy * g.w;
        for (std::int64_t x = 0; x < lo; ++x) o[x] = T(0);
        if (sw == 1) {
          for (std::int64_t x = lo; x < hi; ++x) o[x] = row[x + off];
        } else if (sw == 2) {
          for (std::int64_t x = lo; x < hi; ++x) o[x] = row[2 * x + off];
        } else {
          for (std::int64_t x = lo; x < hi; ++x) o[x] = row[x * sw + off];
        }
        for (std::int64_t x = hi; x < g.ow; ++x) o[x] = T(0);
      }
    }
  });
}

// The adjoint of im2col: dst[b, c, ...] = Σ of the col entries that read it (dst is overwritten).
template <class T>
void col2im(const window_geometry& g, const T* col, T* dst) {
  const std::int64_t plane = g.oh * g.ow, cols = g.n * plane, kk = g.k_h * g.k_w;
  if (pointwise(g)) {
    parallel_for(g.n * g.c, g.n * g.c * plane, [&](std::int64_t bc) {
      const std::int64_t b = bc / g.c, c = bc % g.c;
      std::copy_n(col + c * cols + b * plane, plane, dst + bc * plane);
    });
    return;
  }
  parallel_for(g.n * g.c, g.n * g.c * kk * plane, [&](std::int64_t bc) {
    const std::int64_t b = bc / g.c, c = bc % g.c;
    T* img = dst + bc * g.h * g.w;
    for (std::int64_t t = 0; t < g.h * g.w; ++t) img[t] = T(0);
    for (std::int64_t i = 0; i < g.k_h; ++i) {
      for (std::int64_t j = 0; j < g.k_w; ++j) {
        const T* in = col + ((c * g.k_h + i) * g.k_w + j) * cols + b * plane;
        const std::int64_t off = j * g.dil_w - g.pad_w, sw = g.stride_w;
        std::int64_t lo, hi;
        valid_range(g.ow, g.w, sw, off, lo, hi);
        for (std::int64_t y = 0; y < g.oh; ++y) {
          const std::int64_t iy = y * g.stride_h - g.pad_h + i * g.dil_h;
          if (iy < 0 || iy >= g.h) continue;
          T* row = img + iy * g.w;
          const T* src = in + y * g.ow;
          if (sw == 1) {
            for (std::int64_t x = lo; x < hi; ++x) row[x + off] += src[x];
          } else {
            for (std::int64_t x = lo; x < hi; ++x) row[x * sw + off] += src[x];
          }
        }
      }
    }
  });
}

// [n, c, p] (NCHW with p = h·w) → [c, n·p], optionally adding bias[c] on the way back (see below).
template <class T>
void nchw_to_cn(std::int64_t n, std::int64_t c, std::int64_t p, const T* src, T* dst) {
  parallel_for(c, n * c * p, [&](std::int64_t ch) {
    for (std::int64_t b = 0; b < n; ++b) {
      const T* s = src + (b * c + ch) * p;
      T* o = dst + ch * n * p + b * p;
      for (std::int64_t t = 0; t < p; ++t) o[t] = s[t];
    }
  });
}
// [c, n·p] → [n, c, p], plus bias[c] when bias is not null.
template <class T>
void cn_to_nchw(std::int64_t n, std::int64_t c, std::int64_t p, const T* src, const T* bias, T* dst) {
  parallel_for(n * c, n * c * p, [&](std::int64_t bc) {
    const std::int64_t b = bc / c, ch = bc % c;
    const T* s = src + ch * n * p + b * p;
    T* o = dst + bc * p;
    const T add = bias ? bias[ch] : T(0);
    for (std::int64_t t = 0; t < p; ++t) o[t] = s[t] + add;
  });
}
// dbias[c] += Σ_{b, t} src[b, c, t] (NCHW), summed per channel in a fixed order.
template <class T>
void add_channel_sums(std::int64_t n, std::int64_t c, std::int64_t p, const T* src, T* dbias) {
  parallel_for(c, n * c * p, [&](std::int64_t ch) {
    T s = 0;
    for (std::int64_t b = 0; b < n; ++b) {
      const T* v = src + (b * c + ch) * p;
      for (std::int64_t t = 0; t < p; ++t) s += v[t];
    }
    dbias[ch] += s;
  });
}

// out[r, ch] += bias[ch] for r < rows (channels-last rows), then ReLU when `relu` (serial: inside a chunk task).
// ReLU as activation::ReLU computes it: v > 0 ? v : 0 (NaN → 0).
template <class T>
void add_row_bias(std::int64_t rows, std::int64_t c, const T* bias, T* out, bool relu = false) {
  if (!bias && !relu) return;
  for (std::int64_t r = 0; r < rows; ++r) {
    T* o = out + r * c;
    if (bias && relu) {
      for (std::int64_t ch = 0; ch < c; ++ch) {
        const T v = o[ch] + bias[ch];
        o[ch] = v > T(0) ? v : T(0);
      }
    } else if (bias) {
      for (std::int64_t ch = 0; ch < c; ++ch) o[ch] += bias[ch];
    } else {
      for (std::int64_t ch = 0; ch < c; ++ch) o[ch] = o[ch] > T(0) ? o[ch] : T(0);
    }
  }
}
// out[i] = residual[i] + out[i] over n values (serial: inside a chunk task).
template <class T>
void add_residual(std::int64_t n, const T* residual, T* out) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = residual[i] + out[i];
}
// dx[i] = residual[i] + dx[i]·relu'(x[i]) over n values (relu' when `relu`, residual when not null; serial: inside a
// chunk task), bit for bit a ReLU layer's backward then the addition.
template <class T>
void finish_input_grad(std::int64_t n, bool relu, const T* x, const T* residual, T* dx) {
  if (relu && residual) {
    for (std::int64_t i = 0; i < n; ++i) dx[i] = residual[i] + dx[i] * (x[i] > T(0) ? T(1) : T(0));
  } else if (relu) {
    for (std::int64_t i = 0; i < n; ++i) dx[i] = dx[i] * (x[i] > T(0) ? T(1) : T(0));
  } else if (residual) {
    add_residual(n, residual, dx);
  }
}
// ReLU over n values in place (the outputs that are not written in place; serial: inside a chunk task).
template <class T>
void relu_in_place(std::int64_t n, T* v) {
  for (std::int64_t i = 0; i < n; ++i) v[i] = v[i] > T(0) ? v[i] : T(0);
}
// dbias[ch] += Σ_r src[r, ch] over channels-last rows, each channel summed in row order — the (b, t) order of
// add_channel_sums, so both layouts give the same sums. Threads split the channels, not the rows.
template <class T>
void add_row_sums(std::int64_t rows, std::int64_t c, const T* src, T* dbias) {
  constexpr std::int64_t block = 16;
  parallel_for((c + block - 1) / block, rows * c, [&](std::int64_t blk) {
    const std::int64_t c0 = blk * block, width = std::min(block, c - c0);
    T s[block] = {};
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* v = src + r * c + c0;
      for (std::int64_t k = 0; k < width; ++k) s[k] += v[k];
    }
    for (std::int64_t k = 0; k < width; ++k) dbias[c0 + k] += s[k];
  });
}

// dbias[ch] += Σ of dy [n, c, p] over n and p, read channels-last ([n, p, c]) or NCHW; the same sums either way.
template <class T>
void add_bias_grad(std::int64_t n, std::int64_t c, std::int64_t p, const T* dy, bool channels_last, T* dbias) {
  if (channels_last)
    add_row_sums(n * p, c, dy, dbias);
  else
    add_channel_sums(n, c, p, dy, dbias);
}

// Windows over images [b0, b0 + count) of the conv input.
inline window_geometry input_windows(const conv2d_dims& d, std::int64_t count) {
  return {count, d.in_c, d.in_h, d.in_w, d.k_h, d.k_w, d.stride_h, d.stride_w,
          d.pad_h, d.pad_w, d.dil_h, d.dil_w, d.out_h, d.out_w};
}

// How a batch is cut: chunks of `per_chunk` images (so one chunk's columns, about 1 MiB, stay in cache between
// im2col and the GEMM), dealt round-robin to `tasks` parallel tasks, each with its own scratch. Fixed by
// (sizes, thread count), so results are reproducible for a given thread count.
struct chunk_plan {
  std::int64_t per_chunk = 1, chunks = 1, tasks = 1;
};
inline chunk_plan plan_chunks(std::int64_t n, std::int64_t col_per_image) {
  constexpr std::int64_t target = 1 << 18;  // floats of columns per chunk
  chunk_plan p;
  // At least one chunk per thread: a layer whose whole batch fits one chunk (a 1×1 conv from 32 channels) would
  // otherwise run on one thread while the others wait.
  const std::int64_t threads = std::max<std::int64_t>(1, max_threads());
  const std::int64_t per_thread = std::max<std::int64_t>(1, (n + threads - 1) / threads);
  p.per_chunk = std::max<std::int64_t>(
      1, std::min({n, per_thread, target / std::max<std::int64_t>(1, col_per_image)}));
  p.chunks = n > 0 ? (n + p.per_chunk - 1) / p.per_chunk : 0;
  p.tasks = std::max<std::int64_t>(1, std::min<std::int64_t>(max_threads(), p.chunks));
  if (p.chunks > p.tasks) {  // balance: a whole number of (smaller) chunks per task
    const std::int64_t rounds = (p.chunks + p.tasks - 1) / p.tasks;
    p.per_chunk = (n + rounds * p.tasks - 1) / (rounds * p.tasks);
    p.chunks = (n + p.per_chunk - 1) / p.per_chunk;
  }
  return p;
}
// Runs body(task, first_image, image_count) for every chunk, chunk c on task c % tasks.
template <class Body>
void for_chunks(const chunk_plan& p, std::int64_t n, std::int64_t cost, Body&& body) {
  parallel_for(p.tasks, cost, [&](std::int64_t t) {
    for (std::int64_t c = t; c < p.chunks; c += p.tasks) {
      const std::int64_t b0 = c * p.per_chunk;
      body(t, b0, std::min(p.per_chunk, n - b0));
    }
  });
}
// The same, each chunk taken in order by whichever task is free (a shared counter): for loops whose chunks write
// disjoint outputs and sum into nothing shared (forward passes), where any assignment gives the same values. The
// two threads of a 2-core host do not run at the same speed on a shared machine; a fixed split left one waiting
// (3.5% of a vq-vae step's forward convolutions).
template <class Body>
void for_chunks_dynamic(const chunk_plan& p, std::int64_t n, std::int64_t cost, Body&& body) {
#if defined(_OPENMP)
  if (p.tasks > 1 && p.chunks > p.tasks && cost >= detail::parallel_grain && !omp_in_parallel()) {
    std::atomic<std::int64_t> next{0};
#pragma omp parallel num_threads(static_cast<int>(p.tasks))
    {
      const std::int64_t t = omp_get_thread_num();
      for (std::int64_t c = next.fetch_add(1); c < p.chunks; c = next.fetch_add(1)) {
        const std::int64_t b0 = c * p.per_chunk;
        body(t, b0, std::min(p.per_chunk, n - b0));
      }
    }
    return;
  }
#endif
  for_chunks(p, n, cost, body);
}
// Whether for_chunks(p, n, cost, …) runs its chunk bodies as tasks of a parallel region (or with one thread), so
// that each chunk's product runs serially (windows_in_place holds in them). Mirrors parallel_for's test.
inline bool chunks_in_tasks(const chunk_plan& p, std::int64_t cost) {
  if (max_threads() == 1) return true;
#if defined(_OPENMP)
  return omp_in_parallel() || (p.tasks > 1 && cost >= detail::parallel_grain);
#else
  return true;
#endif
}
// dst += Σ_t partial[t] over `tasks` buffers of `size` elements, in task order.
template <class T>
void reduce_partials(const T* partial, std::int64_t tasks, std::int64_t size, T* dst) {
  parallel_for(size, size * tasks, [&](std::int64_t i) {
    T s = dst[i];
    for (std::int64_t t = 0; t < tasks; ++t) s += partial[t * size + i];
    dst[i] = s;
  });
}


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

// Which column layout a conv kernel uses: NCHW columns (any groups, few channels, large images), channels-last
// columns (groups = 1 and at least channels_last_min channels on the windowed side), or no columns: the Winograd
// F(2×2, 3×3) transforms of a 3×3 stride-1 convolution (winograd_fits).
enum class conv_path { columns, channels_last, winograd };

// Whether conv2d d is one the Winograd path computes: 3×3 stride 1 or 4×4 stride 2, padding 1, no dilation, groups 1,
// channels-last input and output (read and written in place), at least channels_last_min channels each side, and
// d.winograd (the caller's opt-out). A 3×3
// kernel does 16 instead of 36 multiplies per 2×2 outputs and channel pair (F(2×2, 3×3): 2.25× fewer; 1.7× on a 7×7
// image, whose last tile row and column are half outside), a 4×4 stride-2 one 36 instead of 64 (F(2×2, 2×2) over its
// four tap parities: 1.8×; 1.4× on a 7×7 output). The values agree with the direct convolution to float rounding,
// not bit for bit.
inline bool winograd_fits(const conv2d_dims& d) {
  const bool same3 = d.k_h == 3 && d.k_w == 3 && d.stride_h == 1 && d.stride_w == 1;
  const bool down4 = d.k_h == 4 && d.k_w == 4 && d.stride_h == 2 && d.stride_w == 2;
  return d.winograd && (same3 || down4) && d.pad_h == 1 && d.pad_w == 1 && d.dil_h == 1 && d.dil_w == 1 && d.groups == 1 &&
         d.channels_last_in && d.channels_last_out && d.in_c >= channels_last_min && d.out_c >= channels_last_min;
}
inline winograd::geometry winograd_geometry(const conv2d_dims& d) {
  return winograd::geometry_of(d.in_h, d.in_w, d.out_h, d.out_w, static_cast<int>(d.stride_h));
}

// Winograd scratch: per task V [α², tiles, phases·in_c] (the input's transform; also dV), M [α², tiles, out_c] (the
// products; also dM), c_max zeros and 36·c_max spill; then one weight-gradient partial [α², phases·in_c, out_c] per
// task, then the transformed weight in that layout and as [α², out_c, phases·in_c].
struct winograd_plan {
  chunk_plan plan;
  winograd::geometry geo;
  std::int64_t positions, K, v, m, c_max, per_task, u;
};
inline winograd_plan plan_winograd(const conv2d_dims& d) {
  winograd_plan l;
  l.geo = winograd_geometry(d);
  const std::int64_t alpha = d.stride_h == 1 ? 4 : 3;
  l.positions = alpha * alpha;
  l.K = l.geo.phases() * d.in_c;
  const std::int64_t per_image = l.positions * l.geo.per_image();
  l.plan = plan_chunks(d.n, per_image * (l.K + d.out_c));
  l.v = per_image * l.plan.per_chunk * l.K;
  l.m = per_image * l.plan.per_chunk * d.out_c;
  l.c_max = std::max(d.in_c, d.out_c);
  l.per_task = l.v + l.m + 37 * l.c_max;
  l.u = l.positions * l.K * d.out_c;
  return l;
}
inline std::int64_t winograd_scratch_size(const conv2d_dims& d) {
  const auto l = plan_winograd(d);
  return l.plan.tasks * (l.per_task + l.u) + 2 * l.u;
}

// What one pass of winograd_pass computes for a convolution d (in [n, in_h, in_w, in_c] → out [n, out_h, out_w,
// out_c], all channels-last), any of: out = conv(in) + bias (then ReLU with relu_out, then + residual); din, the
// input gradient of dy; dw += the weight gradient of in and dy. Null pointers switch a part off.
template <class T>
struct winograd_io {
  const T* in = nullptr;
  const T* w = nullptr;
  const T* bias = nullptr;
  bool relu_out = false;
  const T* residual = nullptr;
  T* out = nullptr;
  const T* dy = nullptr;
  T* din = nullptr;
  T* dw = nullptr;
};
// No work after a chunk.
struct no_chunk_epilogue {
  void operator()(std::int64_t, std::int64_t) const {}
};

// One pass over the images in chunks (scratch: winograd_scratch_size(d) elements): per chunk the transforms of in
// (V) and dy (dM = A dy Aᵀ) as needed, the products out: M[ξ] = V[ξ]·U[ξ]; dw: partial[ξ] += V[ξ]ᵀ·dM[ξ]; din: dV[ξ] =
// dM[ξ]·U[ξ]ᵀ, then the output transform / the input transform's adjoint, then out_done / din_done(first image,
// images) on the chunk's rows. Chunks go to whichever thread is free unless dw is summed (per-task partials, added
// in task order, so that the sums do not depend on the timing). conv_transpose2d runs its passes through here with
// the roles of in and out swapped.
template <class T, class OutDone = no_chunk_epilogue, class DinDone = no_chunk_epilogue>
void winograd_pass(const conv2d_dims& d, const winograd_io<T>& io, T* scratch, OutDone&& out_done = {},
                   DinDone&& din_done = {}) {
  const auto l = plan_winograd(d);
  const std::int64_t in_img = d.in_h * d.in_w * d.in_c, out_img = d.out_h * d.out_w * d.out_c;
  T* partials = scratch + l.plan.tasks * l.per_task;
  T* u_io = partials + l.plan.tasks * l.u;
  T* u_oi = u_io + l.u;
  const std::int64_t cost =
      d.n * out_img * d.in_c * d.k_h * d.k_w * ((io.out ? 1 : 0) + (io.dw ? 1 : 0) + (io.din ? 1 : 0));
  winograd::with_spec(l.geo.stride, [&](auto spec) {
    using Spec = decltype(spec);
    if (io.out || io.din) winograd::transform_weight<Spec>(l.geo, d.out_c, d.in_c, io.w, u_io, io.din ? u_oi : nullptr);
    if (io.dw) std::fill(partials, partials + l.plan.tasks * l.u, T(0));
    auto chunk = [&](std::int64_t t, std::int64_t b0, std::int64_t nb) {
      T* V = scratch + t * l.per_task;
      T* M = V + l.v;
      T* zeros = M + l.m;
      T* spill = zeros + l.c_max;
      std::fill(zeros, zeros + l.c_max, T(0));
      const std::int64_t tiles = nb * l.geo.per_image();
      if (io.out || io.dw) winograd::transform_input<Spec>(l.geo, nb, d.in_c, io.in + b0 * in_img, zeros, V);
      if (io.out) {
        for (std::int64_t p = 0; p < l.positions; ++p)
          gemm<T>(false, false, tiles, d.out_c, l.K, T(1), V + p * tiles * l.K, l.K, u_io + p * l.K * d.out_c,
                  d.out_c, T(0), M + p * tiles * d.out_c, d.out_c);
        winograd::transform_output<Spec>(l.geo, nb, d.out_c, M, io.bias, io.relu_out,
                                         io.residual ? io.residual + b0 * out_img : nullptr, zeros, spill,
                                         io.out + b0 * out_img);
        out_done(b0, nb);
      }
      if (!io.dw && !io.din) return;
      winograd::transform_output_adjoint<Spec>(l.geo, nb, d.out_c, io.dy + b0 * out_img, zeros, M);  // dM
      if (io.dw)
        for (std::int64_t p = 0; p < l.positions; ++p)
          gemm<T>(true, false, l.K, d.out_c, tiles, T(1), V + p * tiles * l.K, l.K, M + p * tiles * d.out_c, d.out_c,
                  T(1), partials + t * l.u + p * l.K * d.out_c, d.out_c);
      if (io.din) {
        for (std::int64_t p = 0; p < l.positions; ++p)  // dV overwrites V (done with)
          gemm<T>(false, false, tiles, l.K, d.out_c, T(1), M + p * tiles * d.out_c, d.out_c, u_oi + p * l.K * d.out_c,
                  l.K, T(0), V + p * tiles * l.K, l.K);
        winograd::transform_input_adjoint<Spec>(l.geo, nb, d.in_c, V, spill, io.din + b0 * in_img);
        din_done(b0, nb);
      }
    };
    if (io.dw) for_chunks(l.plan, d.n, cost, chunk);
    else for_chunks_dynamic(l.plan, d.n, cost, chunk);
    if (io.dw) winograd::add_weight_gradient<Spec>(l.geo, d.out_c, d.in_c, partials, l.plan.tasks, io.dw);
  });
}
}  // namespace cpu_detail

template <>
struct kernel<conv2d_op, cpu> {
  // Per task: col [in_c·kk, nb·ohw], out [out_c, nb·ohw], dcol [in_c·kk, nb·ohw] (backward with dx),
  // then one partial weight gradient [out_c, in_c/groups·kk] per task when there is more than one task.
  struct layout {
    cpu_detail::chunk_plan plan;
    std::int64_t col, out, per_task, dw;
  };
  static layout plan(const conv2d_dims& d) {
    layout l;
    const std::int64_t ohw = d.out_h * d.out_w, rows = d.in_c * d.k_h * d.k_w;
    l.plan = cpu_detail::plan_chunks(d.n, rows * ohw);
    l.col = rows * l.plan.per_chunk * ohw;
    l.out = d.out_c * l.plan.per_chunk * ohw;
    l.per_task = 2 * l.col + l.out;
    l.dw = l.plan.tasks > 1 ? d.out_c * rows / d.groups : 0;
    return l;
  }
  // Channels-last activations always take the channels-last path (it reads and writes them in place).
  static cpu_detail::conv_path path_for(const conv2d_dims& d) {
    if (cpu_detail::winograd_fits(d)) return cpu_detail::conv_path::winograd;
    const bool wide = d.groups == 1 && d.in_c >= cpu_detail::channels_last_min;
    return wide || d.channels_last_in || d.channels_last_out ? cpu_detail::conv_path::channels_last
                                                             : cpu_detail::conv_path::columns;
  }
  static std::int64_t scratch_size(const conv2d_dims& d) { return scratch_size(d, path_for(d)); }
  static std::int64_t scratch_size(const conv2d_dims& d, cpu_detail::conv_path path) {
    if (path == cpu_detail::conv_path::winograd) return cpu_detail::winograd_scratch_size(d);
    if (path == cpu_detail::conv_path::channels_last) {
      const auto l = plan_cl(d);
      return l.plan.tasks * (l.per_task + l.w) + l.w;
    }
    const auto l = plan(d);
    return l.plan.tasks * (l.per_task + l.dw);
  }

  template <class T>
  static void forward(const conv2d_dims& d, const T* x, const T* w, const T* bias, T* y, T* scratch) {
    forward(d, x, w, bias, y, scratch, path_for(d));
  }
  template <class T>
  static void backward(const conv2d_dims& d, const T* x, const T* w, const T* dy, T* dx, T* dw, T* dbias,
                       T* scratch) {
    backward(d, x, w, dy, dx, dw, dbias, scratch, path_for(d));
  }
  // y = residual + (conv + bias): added in the chunk that writes the output, while it is in cache.
  template <class T>
  static void forward_add(const conv2d_dims& d, const T* x, const T* w, const T* bias, const T* residual, T* y,
                          T* scratch) {
    check(!d.relu_out, "conv2d: a fused ReLU and a fused residual addition together are not supported");
    if (path_for(d) == cpu_detail::conv_path::winograd) {
      forward_wg(d, x, w, bias, y, scratch, residual);
      return;
    }
    if (path_for(d) == cpu_detail::conv_path::channels_last) {
      forward_cl(d, x, w, bias, y, scratch, residual);
      return;
    }
    forward(d, x, w, bias, y, scratch, cpu_detail::conv_path::columns);
    parallel_for(d.n, d.n * d.out_c * d.out_h * d.out_w, [&](std::int64_t b) {
      const std::int64_t img = d.out_c * d.out_h * d.out_w;
      cpu_detail::add_residual(img, residual + b * img, y + b * img);
    });
  }
  // The same, on an explicit path (tests compare the two; `scratch` holds scratch_size(d, path) elements).
  template <class T>
  static void forward(const conv2d_dims& d, const T* x, const T* w, const T* bias, T* y, T* scratch,
                      cpu_detail::conv_path path) {
    if (path == cpu_detail::conv_path::winograd) {
      check_winograd(d);
      forward_wg(d, x, w, bias, y, scratch);
      return;
    }
    if (path == cpu_detail::conv_path::channels_last) {
      check(d.groups == 1, "conv2d: the channels-last path needs groups == 1");
      forward_cl(d, x, w, bias, y, scratch);
      return;
    }
    check(!d.channels_last_in && !d.channels_last_out, "conv2d: channels-last activations need the channels-last path");
    const auto l = plan(d);
    const std::int64_t ohw = d.out_h * d.out_w, in_img = d.in_c * d.in_h * d.in_w;
    const std::int64_t cin_g = d.in_c / d.groups, cout_g = d.out_c / d.groups, kg = cin_g * d.k_h * d.k_w;
    cpu_detail::for_chunks(l.plan, d.n, d.n * d.out_c * ohw * kg, [&](std::int64_t t, std::int64_t b0, std::int64_t nb) {
      T* col = scratch + t * l.per_task;
      T* out = col + l.col;
      const std::int64_t cols = nb * ohw;
      cpu_detail::im2col(cpu_detail::input_windows(d, nb), x + b0 * in_img, col);
      for (std::int64_t gr = 0; gr < d.groups; ++gr)
        cpu_detail::gemm<T>(false, false, cout_g, cols, kg, T(1), w + gr * cout_g * kg, kg, col + gr * kg * cols, cols,
                            T(0), out + gr * cout_g * cols, cols);
      cpu_detail::cn_to_nchw(nb, d.out_c, ohw, out, bias, y + b0 * d.out_c * ohw);
      if (d.relu_out) cpu_detail::relu_in_place(nb * d.out_c * ohw, y + b0 * d.out_c * ohw);
    });
  }

  // dx_residual (laid out as x, or null) is added to dx where it is written; with d.relu_in, dx is first masked by
  // relu'(x).
  template <class T>
  static void backward(const conv2d_dims& d, const T* x, const T* w, const T* dy, T* dx, T* dw, T* dbias,
                       T* scratch, cpu_detail::conv_path path, const T* dx_residual = nullptr) {
    if (path == cpu_detail::conv_path::winograd) {
      check_winograd(d);
      backward_wg(d, x, w, dy, dx, dw, dbias, scratch, dx_residual);
      return;
    }
    if (path == cpu_detail::conv_path::channels_last) {
      check(d.groups == 1, "conv2d: the channels-last path needs groups == 1");
      backward_cl(d, x, w, dy, dx, dw, dbias, scratch, dx_residual);
      return;
    }
    check(!d.channels_last_in && !d.channels_last_out, "conv2d: channels-last activations need the channels-last path");
    const auto l = plan(d);
    const std::int64_t ohw = d.out_h * d.out_w, in_img = d.in_c * d.in_h * d.in_w;
    const std::int64_t cin_g = d.in_c / d.groups, cout_g = d.out_c / d.groups, kg = cin_g * d.k_h * d.k_w;
    if (dbias) cpu_detail::add_channel_sums(d.n, d.out_c, ohw, dy, dbias);
    if (!dw && !dx) return;
    T* partials = scratch + l.plan.tasks * l.per_task;
    if (dw && l.dw) std::fill(partials, partials + l.plan.tasks * l.dw, T(0));
    const std::int64_t cost = d.n * d.out_c * ohw * kg * ((dw ? 1 : 0) + (dx ? 1 : 0));
    cpu_detail::for_chunks(l.plan, d.n, cost, [&](std::int64_t t, std::int64_t b0, std::int64_t nb) {
      T* col = scratch + t * l.per_task;
      T* dout = col + l.col;
      T* dcol = dout + l.out;
      const std::int64_t cols = nb * ohw;
      cpu_detail::nchw_to_cn(nb, d.out_c, ohw, dy + b0 * d.out_c * ohw, dout);
      if (dw) {
        T* g = l.dw ? partials + t * l.dw : dw;
        cpu_detail::im2col(cpu_detail::input_windows(d, nb), x + b0 * in_img, col);
        for (std::int64_t gr = 0; gr < d.groups; ++gr)
          cpu_detail::gemm<T>(false, true, cout_g, kg, cols, T(1), dout + gr * cout_g * cols, cols,
                              col + gr * kg * cols, cols, T(1), g + gr * cout_g * kg, kg);
      }
      if (dx) {
        for (std::int64_t gr = 0; gr < d.groups; ++gr)
          cpu_detail::gemm<T>(true, false, kg, cols, cout_g, T(1), w + gr * cout_g * kg, kg,
                              dout + gr * cout_g * cols, cols, T(0), dcol + gr * kg * cols, cols);
        cpu_detail::col2im(cpu_detail::input_windows(d, nb), dcol, dx + b0 * in_img);
        if (d.relu_in || dx_residual)
          cpu_detail::finish_input_grad(nb * in_img, d.relu_in, x + b0 * in_img,
                                        dx_residual ? dx_residual + b0 * in_img : nullptr, dx + b0 * in_img);
      }
    });
    if (dw && l.dw) cpu_detail::reduce_partials(partials, l.plan.tasks, l.dw, dw);
  }

 private:
  static void check_winograd(const conv2d_dims& d) {
    check(cpu_detail::winograd_fits(d),
          "conv2d: the Winograd path needs a 3x3 stride-1 or 4x4 stride-2 kernel, padding 1, no dilation, groups 1, "
          "channels-last input and output and at least 16 channels each side");
  }

  template <class T>
  static void forward_wg(const conv2d_dims& d, const T* x, const T* w, const T* bias, T* y, T* scratch,
                         const T* residual = nullptr) {
    cpu_detail::winograd_io<T> io;
    io.in = x, io.w = w, io.bias = bias, io.relu_out = d.relu_out, io.residual = residual, io.out = y;
    cpu_detail::winograd_pass(d, io, scratch);
  }
  // dx is masked by relu'(x) (d.relu_in) and added to dx_residual where it is written, as backward_cl.
  template <class T>
  static void backward_wg(const conv2d_dims& d, const T* x, const T* w, const T* dy, T* dx, T* dw, T* dbias,
                          T* scratch, const T* dx_residual) {
    if (dbias) cpu_detail::add_bias_grad(d.n, d.out_c, d.out_h * d.out_w, dy, true, dbias);
    if (!dw && !dx) return;
    cpu_detail::winograd_io<T> io;
    io.in = x, io.w = w, io.dy = dy, io.din = dx, io.dw = dw;
    const std::int64_t in_img = d.in_h * d.in_w * d.in_c;
    cpu_detail::winograd_pass(d, io, scratch, {}, [&](std::int64_t b0, std::int64_t nb) {
      if (d.relu_in || dx_residual)
        cpu_detail::finish_input_grad(nb * in_img, d.relu_in, x + b0 * in_img,
                                      dx_residual ? dx_residual + b0 * in_img : nullptr, dx + b0 * in_img);
    });
  }

  // Channels-last: per task xl [nb·ihw, in_c], col [nb·ohw, K] (none when the window is pointwise: col = xl),
  // out [nb·ohw, out_c]; then one weight buffer [out_c, K] per task (backward partials) and one shared
  // [out_c, K] (the weight in column order), K = kk·in_c.
  struct layout_cl {
    cpu_detail::chunk_plan plan;
    std::int64_t xl, col, out, per_task, w;
    bool pointwise;
  };
  static layout_cl plan_cl(const conv2d_dims& d) {
    layout_cl l;
    const std::int64_t ohw = d.out_h * d.out_w, k = d.in_c * d.k_h * d.k_w;
    l.pointwise = cpu_detail::pointwise(cpu_detail::input_windows(d, 1));
    l.plan = cpu_detail::plan_chunks(d.n, k * ohw);
    l.xl = d.in_c * d.in_h * d.in_w * l.plan.per_chunk;
    l.col = l.pointwise ? 0 : k * ohw * l.plan.per_chunk;
    l.out = d.out_c * ohw * l.plan.per_chunk;
    l.per_task = l.xl + l.col + l.out;
    l.w = d.out_c * k;
    return l;
  }

  // A side is read or written in place when it is channels-last, or has one channel (then NCHW is the same memory).
  static bool input_in_place(const conv2d_dims& d) { return d.channels_last_in || d.in_c == 1; }
  static bool output_in_place(const conv2d_dims& d) { return d.channels_last_out || d.out_c == 1; }

  template <class T>
  static void forward_cl(const conv2d_dims& d, const T* x, const T* w, const T* bias, T* y, T* scratch,
                         const T* residual = nullptr) {
    const auto l = plan_cl(d);
    const std::int64_t ohw = d.out_h * d.out_w, ihw = d.in_h * d.in_w, kk = d.k_h * d.k_w, k = d.in_c * kk;
    const bool x_in_place = input_in_place(d), y_in_place = output_in_place(d);
    T* wt = scratch + l.plan.tasks * (l.per_task + l.w);  // [k, out_c]
    cpu_detail::weight_to_channels_last_transposed(d.out_c, d.in_c, kk, w, wt);
    cpu_detail::for_chunks_dynamic(l.plan, d.n, d.n * d.out_c * ohw * k, [&](std::int64_t t, std::int64_t b0,
                                                                              std::int64_t nb) {
      T* xl = scratch + t * l.per_task;
      T* col = xl + l.xl;
      const T* xin = x + b0 * d.in_c * ihw;
      if (!x_in_place) cpu_detail::nchw_to_nhwc(nb, d.in_c, ihw, xin, xl);
      const T* xcl = x_in_place ? xin : xl;
      T* yb = y + b0 * d.out_c * ohw;
      T* out = y_in_place ? yb : col + l.col;
      const auto g = cpu_detail::input_windows(d, nb);
      if (l.pointwise) {
        cpu_detail::gemm<T>(false, false, nb * ohw, d.out_c, k, T(1), xcl, k, wt, d.out_c, T(0), out, d.out_c);
      } else if (cpu_detail::windows_in_place<T>(g)) {
        cpu_detail::window_product(nb * ohw, d.out_c, k, cpu_detail::windows_of(g, xcl), wt, d.out_c, out, d.out_c);
      } else {
        cpu_detail::im2col_cl(g, xcl, col);
        cpu_detail::gemm<T>(false, false, nb * ohw, d.out_c, k, T(1), col, k, wt, d.out_c, T(0), out, d.out_c);
      }
      if (y_in_place) {
        cpu_detail::add_row_bias(nb * ohw, d.out_c, bias, out, d.relu_out);
      } else {
        cpu_detail::nhwc_to_nchw(nb, d.out_c, ohw, out, bias, yb);
        if (d.relu_out) cpu_detail::relu_in_place(nb * d.out_c * ohw, yb);
      }
      if (residual) cpu_detail::add_residual(nb * d.out_c * ohw, residual + b0 * d.out_c * ohw, yb);
    });
  }

  template <class T>
  static void backward_cl(const conv2d_dims& d, const T* x, const T* w, const T* dy, T* dx, T* dw, T* dbias,
                          T* scratch, const T* dx_residual) {
    const auto l = plan_cl(d);
    const std::int64_t ohw = d.out_h * d.out_w, ihw = d.in_h * d.in_w, kk = d.k_h * d.k_w, k = d.in_c * kk;
    const bool x_in_place = input_in_place(d), y_in_place = output_in_place(d);
    if (dbias) cpu_detail::add_bias_grad(d.n, d.out_c, ohw, dy, y_in_place, dbias);
    if (!dw && !dx) return;
    T* partials = scratch + l.plan.tasks * l.per_task;
    T* wr = partials + l.plan.tasks * l.w;
    const std::int64_t cost = d.n * d.out_c * ohw * k * ((dw ? 1 : 0) + (dx ? 1 : 0));
    // A stride-1 window's input gradient: one product over dy's windows read in place (no dcol, no col2im_cl).
    const bool dx_windows = dx && !l.pointwise && d.stride_h == 1 && d.stride_w == 1 &&
                            cpu_detail::windows_readable<T>(cpu_detail::input_grad_windows(d, l.plan.per_chunk)) &&
                            cpu_detail::chunks_in_tasks(l.plan, cost);
    if (dx_windows) cpu_detail::weight_flipped_for_input_grad(d.out_c, d.in_c, d.k_h, d.k_w, w, wr);
    else if (dx) cpu_detail::weight_to_channels_last(d.out_c, d.in_c, kk, w, wr);
    if (dw) std::fill(partials, partials + l.plan.tasks * l.w, T(0));
    cpu_detail::for_chunks(l.plan, d.n, cost, [&](std::int64_t t, std::int64_t b0, std::int64_t nb) {
      T* xl = scratch + t * l.per_task;
      T* col = xl + l.xl;
      const std::int64_t rows = nb * ohw;
      const auto g = cpu_detail::input_windows(d, nb);
      const T* dyb = dy + b0 * d.out_c * ohw;
      if (!y_in_place) cpu_detail::nchw_to_nhwc(nb, d.out_c, ohw, dyb, col + l.col);
      const T* dout = y_in_place ? dyb : col + l.col;
      if (dw) {
        const T* xin = x + b0 * d.in_c * ihw;
        if (!x_in_place) cpu_detail::nchw_to_nhwc(nb, d.in_c, ihw, xin, xl);
        const T* xcl = x_in_place ? xin : xl;
        if (!l.pointwise && cpu_detail::windows_in_place<T>(g)) {
          cpu_detail::window_weight_product(d.out_c, k, rows, dout, d.out_c, cpu_detail::windows_of(g, xcl),
                                            partials + t * l.w, k);
        } else {
          if (!l.pointwise) cpu_detail::im2col_cl(g, xcl, col);
          cpu_detail::gemm<T>(true, false, d.out_c, k, rows, T(1), dout, d.out_c, l.pointwise ? xcl : col, k, T(1),
                              partials + t * l.w, k);
        }
      }
      if (dx) {
        // dcol [rows, K] overwrites the columns (done with) and folds into the channels-last input gradient: dx
        // itself when it is written in place, else xl, transposed into dx after.
        T* dxb = dx + b0 * d.in_c * ihw;
        T* dxl = x_in_place ? dxb : xl;
        if (dx_windows) {
          cpu_detail::window_product(nb * ihw, d.in_c, kk * d.out_c,
                                     cpu_detail::windows_of(cpu_detail::input_grad_windows(d, nb), dout), wr, d.in_c,
                                     dxl, d.in_c);
        } else {
          T* dcol = l.pointwise ? dxl : col;
          cpu_detail::gemm<T>(false, false, rows, k, d.out_c, T(1), dout, d.out_c, wr, k, T(0), dcol, k);
          if (!l.pointwise) cpu_detail::col2im_cl(g, dcol, dxl);
        }
        if (!x_in_place) cpu_detail::nhwc_to_nchw<T>(nb, d.in_c, ihw, xl, nullptr, dxb);
        if (d.relu_in || dx_residual)
          cpu_detail::finish_input_grad(nb * d.in_c * ihw, d.relu_in, x + b0 * d.in_c * ihw,
                                        dx_residual ? dx_residual + b0 * d.in_c * ihw : nullptr, dxb);
      }
    });
    if (dw) cpu_detail::add_weight_from_channels_last(d.out_c, d.in_c, kk, partials, l.plan.tasks, dw);
  }
};

}  // namespace vae
