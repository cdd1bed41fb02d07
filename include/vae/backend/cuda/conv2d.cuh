// cuda kernel of the conv2d op: per image, im2col (one thread per column entry) → one cuBLAS GEMM per group, written
// straight into the NCHW output; backward col2im gathers (one thread per input element, no atomics).
#pragma once
#include <cstdint>

#include "vae/backend/cuda.hpp"
#include "vae/backend/cuda/linear.cuh"
#include "vae/backend/cuda/reduce.cuh"
#include "vae/ops/conv2d.hpp"

namespace vae {

namespace cuda_detail {

// Sliding-window geometry of ONE image [c, h, w] seen through k_h×k_w windows giving an [oh, ow] grid (as
// window without the batch). Our own copy: this header is included from the bottom of
// ops/conv2d.hpp, which may be read from inside backend/cpu/conv2d.hpp before the cpu one is defined.
struct window {
  std::int64_t c, h, w, k_h, k_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh, ow;
};
// The conv input's windows.
inline window input_windows(const conv2d_dims& d) {
  return {d.in_c, d.in_h, d.in_w, d.k_h, d.k_w, d.stride_h, d.stride_w, d.pad_h, d.pad_w, d.dil_h, d.dil_w,
          d.out_h, d.out_w};
}

// For ONE image: col[(c·k_h + i)·k_w + j, y·ow + x] = src[c, y·s − p + i·d, x·s − p + j·d], 0 outside.
template <class T>
__global__ void im2col_kernel(window g, const T* src, T* col) {
  const std::int64_t plane = g.oh * g.ow, k = thread_index();
  if (k >= g.c * g.k_h * g.k_w * plane) return;
  const std::int64_t p = k % plane, r = k / plane;
  const std::int64_t x = p % g.ow, y = p / g.ow;
  const std::int64_t j = r % g.k_w, i = (r / g.k_w) % g.k_h, c = r / (g.k_w * g.k_h);
  const std::int64_t iy = y * g.stride_h - g.pad_h + i * g.dil_h, ix = x * g.stride_w - g.pad_w + j * g.dil_w;
  col[k] = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w ? src[(c * g.h + iy) * g.w + ix] : T(0);
}

// The adjoint of im2col for ONE image: dst[c, iy, ix] = Σ of the col entries that read it, gathered in (i, j)
// order (the cpu kernel's order of additions for each element). dst is overwritten.
template <class T>
__global__ void col2im_kernel(window g, const T* col, T* dst) {
  const std::int64_t k = thread_index();
  if (k >= g.c * g.h * g.w) return;
  const std::int64_t ix = k % g.w, iy = (k / g.w) % g.h, c = k / (g.w * g.h), plane = g.oh * g.ow;
  T acc = 0;
  for (std::int64_t i = 0; i < g.k_h; ++i) {
    const std::int64_t ty = iy + g.pad_h - i * g.dil_h;  // = y·stride_h for the output row y that reads iy
    if (ty < 0 || ty % g.stride_h != 0 || ty / g.stride_h >= g.oh) continue;
    const std::int64_t y = ty / g.stride_h;
    for (std::int64_t j = 0; j < g.k_w; ++j) {
      const std::int64_t tx = ix + g.pad_w - j * g.dil_w;
      if (tx < 0 || tx % g.stride_w != 0 || tx / g.stride_w >= g.ow) continue;
      acc += col[((c * g.k_h + i) * g.k_w + j) * plane + y * g.ow + tx / g.stride_w];
    }
  }
  dst[k] = acc;
}

// y[b, c, t] += bias[c] over n·channels·plane elements.
template <class T>
__global__ void add_channel_bias_kernel(std::int64_t total, std::int64_t channels, std::int64_t plane, const T* bias,
                                        T* y) {
  const std::int64_t k = thread_index();
  if (k < total) y[k] += bias[(k / plane) % channels];
}

// Block c: dbias[c] += Σ_{b, t} src[b, c, t] (in double, rounded once).
template <class T>
__global__ void channel_sums_kernel(std::int64_t n, std::int64_t channels, std::int64_t plane, const T* src, T* dbias) {
  const std::int64_t c = blockIdx.x, count = n * plane;
  double s = 0;
  for (std::int64_t k = threadIdx.x; k < count; k += blockDim.x)
    s += static_cast<double>(src[((k / plane) * channels + c) * plane + k % plane]);
  s = block_sum(s);
  if (threadIdx.x == 0) dbias[c] += static_cast<T>(s);
}

template <class T>
void im2col(const window& g, const T* src, T* col) {
  const std::int64_t n = g.c * g.k_h * g.k_w * g.oh * g.ow;
  if (n == 0) return;
  im2col_kernel<<<blocks_for(n), threads_per_block, 0, stream()>>>(g, src, col);
  check_launch("vae::cuda im2col");
}
template <class T>
void col2im(const window& g, const T* col, T* dst) {
  const std::int64_t n = g.c * g.h * g.w;
  if (n == 0) return;
  col2im_kernel<<<blocks_for(n), threads_per_block, 0, stream()>>>(g, col, dst);
  check_launch("vae::cuda col2im");
}
template <class T>
void add_channel_bias(std::int64_t n, std::int64_t channels, std::int64_t plane, const T* bias, T* y) {
  const std::int64_t total = n * channels * plane;
  if (total == 0) return;
  add_channel_bias_kernel<<<blocks_for(total), threads_per_block, 0, stream()>>>(total, channels, plane, bias, y);
  check_launch("vae::cuda add_channel_bias");
}
template <class T>
void add_channel_sums(std::int64_t n, std::int64_t channels, std::int64_t plane, const T* src, T* dbias) {
  if (channels == 0) return;
  channel_sums_kernel<<<row_blocks(channels), reduce_threads, 0, stream()>>>(n, channels, plane, src, dbias);
  check_launch("vae::cuda channel_sums");
}

}  // namespace cuda_detail

template <>
struct kernel<conv2d_op, cuda> {
  // The columns of one image: [in_c·k_h·k_w, out_h·out_w] (forward columns, then the backward's dw and dx columns).
  static std::int64_t scratch_size(const conv2d_dims& d) { return d.in_c * d.k_h * d.k_w * d.out_h * d.out_w; }

  template <class T>
  static void forward(const conv2d_dims& d, const T* x, const T* w, const T* bias, T* y, T* scratch) {
    const std::int64_t ohw = d.out_h * d.out_w, in_img = d.in_c * d.in_h * d.in_w;
    const std::int64_t cin_g = d.in_c / d.groups, cout_g = d.out_c / d.groups, kg = cin_g * d.k_h * d.k_w;
    const auto g = cuda_detail::input_windows(d);
    for (std::int64_t b = 0; b < d.n; ++b) {
      cuda_detail::im2col(g, x + b * in_img, scratch);
      T* yb = y + b * d.out_c * ohw;  // one image of NCHW output is [out_c, ohw]: the GEMM's layout
      for (std::int64_t gr = 0; gr < d.groups; ++gr)
        cuda_detail::gemm<T>(false, false, cout_g, ohw, kg, T(1), w + gr * cout_g * kg, kg, scratch + gr * kg * ohw,
                             ohw, T(0), yb + gr * cout_g * ohw, ohw);
    }
    if (bias) cuda_detail::add_channel_bias(d.n, d.out_c, ohw, bias, y);
  }

  template <class T>
  static void backward(const conv2d_dims& d, const T* x, const T* w, const T* dy, T* dx, T* dw, T* dbias,
                       T* scratch) {
    const std::int64_t ohw = d.out_h * d.out_w, in_img = d.in_c * d.in_h * d.in_w;
    const std::int64_t cin_g = d.in_c / d.groups, cout_g = d.out_c / d.groups, kg = cin_g * d.k_h * d.k_w;
    if (dbias) cuda_detail::add_channel_sums(d.n, d.out_c, ohw, dy, dbias);
    const auto g = cuda_detail::input_windows(d);
    for (std::int64_t b = 0; b < d.n; ++b) {
      const T* dyb = dy + b * d.out_c * ohw;
      if (dw) {  // dw_g[cout_g, kg] += dy_g[cout_g, ohw] · col_gᵀ
        cuda_detail::im2col(g, x + b * in_img, scratch);
        for (std::int64_t gr = 0; gr < d.groups; ++gr)
          cuda_detail::gemm<T>(false, true, cout_g, kg, ohw, T(1), dyb + gr * cout_g * ohw, ohw,
                               scratch + gr * kg * ohw, ohw, T(1), dw + gr * cout_g * kg, kg);
      }
      if (dx) {  // dcol_g[kg, ohw] = w_gᵀ · dy_g, then col2im (same stream: runs after the dw GEMMs read scratch)
        for (std::int64_t gr = 0; gr < d.groups; ++gr)
          cuda_detail::gemm<T>(true, false, kg, ohw, cout_g, T(1), w + gr * cout_g * kg, kg, dyb + gr * cout_g * ohw,
                               ohw, T(0), scratch + gr * kg * ohw, ohw);
        cuda_detail::col2im(g, scratch, dx + b * in_img);
      }
    }
  }
};

}  // namespace vae
