// cpu kernel of the conv2d op: im2col over the whole batch into [C·kh·kw, N·OH·OW], one GEMM per group, col2im.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/gemm.hpp"
#include "vae/ops/conv2d.hpp"

namespace vae {

namespace cpu_detail {

// Sliding-window geometry shared by im2col/col2im: an image [n, c, h, w] seen through k_h×k_w windows
// giving an [oh, ow] grid.
struct window_geometry {
  std::int64_t n, c, h, w, k_h, k_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh, ow;
};

// col[(c·k_h + i)·k_w + j, b·oh·ow + y·ow + x] = src[b, c, y·s − p + i·d, x·s − p + j·d] (0 outside).
template <class T>
void im2col(const window_geometry& g, const T* src, T* col) {
  const std::int64_t rows = g.c * g.k_h * g.k_w, plane = g.oh * g.ow, cols = g.n * plane;
  parallel_for(rows, rows * cols, [&](std::int64_t r) {
    const std::int64_t j = r % g.k_w, i = (r / g.k_w) % g.k_h, c = r / (g.k_w * g.k_h);
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
        const std::int64_t off = j * g.dil_w - g.pad_w;
        if (g.stride_w == 1 && off >= 0 && off + g.ow <= g.w) {
          for (std::int64_t x = 0; x < g.ow; ++x) o[x] = row[x + off];
        } else {
          for (std::int64_t x = 0; x < g.ow; ++x) {
            const std::int64_t ix = x * g.stride_w + off;
            o[x] = (ix >= 0 && ix < g.w) ? row[ix] : T(0);
          }
        }
      }
    }
  });
}

// The adjoint of im2col: dst[b, c, ...] = Σ of the col entries that read it (dst is overwritten).
template <class T>
void col2im(const window_geometry& g, const T* col, T* dst) {
  const std::int64_t plane = g.oh * g.ow, cols = g.n * plane, kk = g.k_h * g.k_w;
  parallel_for(g.n * g.c, g.n * g.c * kk * plane, [&](std::int64_t bc) {
    const std::int64_t b = bc / g.c, c = bc % g.c;
    T* img = dst + bc * g.h * g.w;
    for (std::int64_t t = 0; t < g.h * g.w; ++t) img[t] = T(0);
    for (std::int64_t i = 0; i < g.k_h; ++i) {
      for (std::int64_t j = 0; j < g.k_w; ++j) {
        const T* in = col + ((c * g.k_h + i) * g.k_w + j) * cols + b * plane;
        const std::int64_t off = j * g.dil_w - g.pad_w;
        for (std::int64_t y = 0; y < g.oh; ++y) {
          const std::int64_t iy = y * g.stride_h - g.pad_h + i * g.dil_h;
          if (iy < 0 || iy >= g.h) continue;
          T* row = img + iy * g.w;
          const T* src = in + y * g.ow;
          for (std::int64_t x = 0; x < g.ow; ++x) {
            const std::int64_t ix = x * g.stride_w + off;
            if (ix >= 0 && ix < g.w) row[ix] += src[x];
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

inline window_geometry input_windows(const conv2d_dims& d) {
  return {d.n, d.in_c, d.in_h, d.in_w, d.k_h, d.k_w, d.stride_h, d.stride_w,
          d.pad_h, d.pad_w, d.dil_h, d.dil_w, d.out_h, d.out_w};
}

}  // namespace cpu_detail

template <>
struct kernel<conv2d_op, cpu> {
  // col = [in_c·kk, n·ohw]; work = [out_c, n·ohw] (+ [in_c·kk, n·ohw] for the column gradient in backward).
  template <class T>
  static void forward(const conv2d_dims& d, const T* x, const T* w, const T* bias, T* y, T* col, T* work) {
    const auto g = cpu_detail::input_windows(d);
    const std::int64_t ohw = d.out_h * d.out_w, cols = d.n * ohw;
    const std::int64_t cin_g = d.in_c / d.groups, cout_g = d.out_c / d.groups, kg = cin_g * d.k_h * d.k_w;
    T* ycn = work;
    cpu_detail::im2col(g, x, col);
    for (std::int64_t gr = 0; gr < d.groups; ++gr)
      cpu_detail::gemm<T>(false, false, cout_g, cols, kg, T(1), w + gr * cout_g * kg, kg, col + gr * kg * cols, cols,
                          T(0), ycn + gr * cout_g * cols, cols);
    cpu_detail::cn_to_nchw(d.n, d.out_c, ohw, ycn, bias, y);
  }

  template <class T>
  static void backward(const conv2d_dims& d, const T* w, const T* dy, T* dx, T* dw, T* dbias, const T* col,
                       T* work) {
    const auto g = cpu_detail::input_windows(d);
    const std::int64_t ohw = d.out_h * d.out_w, cols = d.n * ohw;
    const std::int64_t cin_g = d.in_c / d.groups, cout_g = d.out_c / d.groups, kg = cin_g * d.k_h * d.k_w;
    T* dycn = work;
    if (dbias) cpu_detail::add_channel_sums(d.n, d.out_c, ohw, dy, dbias);
    cpu_detail::nchw_to_cn(d.n, d.out_c, ohw, dy, dycn);
    if (dw) {
      for (std::int64_t gr = 0; gr < d.groups; ++gr)
        cpu_detail::gemm<T>(false, true, cout_g, kg, cols, T(1), dycn + gr * cout_g * cols, cols, col + gr * kg * cols,
                            cols, T(1), dw + gr * cout_g * kg, kg);
    }
    if (dx) {
      T* dcol = work + d.out_c * cols;
      for (std::int64_t gr = 0; gr < d.groups; ++gr)
        cpu_detail::gemm<T>(true, false, kg, cols, cout_g, T(1), w + gr * cout_g * kg, kg, dycn + gr * cout_g * cols,
                            cols, T(0), dcol + gr * kg * cols, cols);
      cpu_detail::col2im(g, dcol, dx);
    }
  }
};

}  // namespace vae
