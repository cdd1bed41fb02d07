// NCHW columns of the conv2d cpu kernel: window geometry, im2col/col2im and the NCHW ↔ [c, n·p] reorders.
#pragma once
#include <algorithm>
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/ops/conv2d_dims.hpp"

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

// Windows over images [b0, b0 + count) of the conv input.
inline window_geometry input_windows(const conv2d_dims& d, std::int64_t count) {
  return {count, d.in_c, d.in_h, d.in_w, d.k_h, d.k_w, d.stride_h, d.stride_w,
          d.pad_h, d.pad_w, d.dil_h, d.dil_w, d.out_h, d.out_w};
}
}  // namespace cpu_detail
}  // namespace vae
