// cuda kernel of the conv2d op: im2col of a whole chunk of images (one thread per column entry) → one cuBLAS GEMM per
// group over the chunk → back to NCHW with the bias; backward col2im gathers (one thread per input element, no atomics).
#pragma once
#include <algorithm>
#include <cstdint>

#include "vae/backend/cuda.hpp"
#include "vae/backend/cuda/conv_fusion.cuh"
#include "vae/backend/cuda/linear.cuh"
#include "vae/backend/cuda/reduce.cuh"
#include "vae/core/tensor.hpp"
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

// The index arithmetic below is 32-bit: a 64-bit division costs a GPU several times a 32-bit one, and these
// kernels do a few divisions per element moved. chunk_images keeps every chunk's tensors under 2^30 elements.

// Columns of a chunk of nb images, one GEMM wide: col[(c·k_h + i)·k_w + j, b·plane + y·ow + x] =
// src[b, c, y·s − p + i·d, x·s − p + j·d] (0 outside), plane = oh·ow. Block (r, qb) of the 1-D grid (r·qblocks + qb)
// writes row r = (c·k_h + i)·k_w + j, its threads along b·plane + y·ow + x (coalesced writes).
template <class T>
__global__ void im2col_kernel(window g, std::int64_t nb, unsigned qblocks, const T* src, T* col) {
  const unsigned r = blockIdx.x / qblocks, qb = blockIdx.x - r * qblocks;
  const unsigned ow = static_cast<unsigned>(g.ow), plane = static_cast<unsigned>(g.oh) * ow;
  const unsigned wide = static_cast<unsigned>(nb) * plane, q = qb * blockDim.x + threadIdx.x;
  if (q >= wide) return;
  const unsigned b = q / plane, p = q - b * plane, y = p / ow, x = p - y * ow;
  const unsigned kw = static_cast<unsigned>(g.k_w), kk = static_cast<unsigned>(g.k_h) * kw;
  const unsigned c = r / kk, ij = r - c * kk, i = ij / kw, j = ij - i * kw;
  const int iy = static_cast<int>(y) * static_cast<int>(g.stride_h) - static_cast<int>(g.pad_h) +
                 static_cast<int>(i) * static_cast<int>(g.dil_h);
  const int ix = static_cast<int>(x) * static_cast<int>(g.stride_w) - static_cast<int>(g.pad_w) +
                 static_cast<int>(j) * static_cast<int>(g.dil_w);
  const bool inside = iy >= 0 && iy < static_cast<int>(g.h) && ix >= 0 && ix < static_cast<int>(g.w);
  col[static_cast<std::int64_t>(r) * wide + q] =
      inside ? src[((static_cast<std::int64_t>(b) * g.c + c) * g.h + iy) * g.w + ix] : T(0);
}

// The adjoint of im2col for nb images: dst[b, c, iy, ix] = Σ of the col entries that read it, gathered in (i, j)
// order (the cpu kernel's order of additions for each element), then + bias[c] when a bias is given (the cpu adds
// it after the sum too). dst is overwritten; one thread per element.
template <class T>
__global__ void col2im_kernel(window g, std::int64_t nb, const T* col, const T* bias, T* dst) {
  const unsigned w = static_cast<unsigned>(g.w), hw = static_cast<unsigned>(g.h) * w;
  const unsigned image = static_cast<unsigned>(g.c) * hw, k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= static_cast<unsigned>(nb) * image) return;
  const unsigned b = k / image, e = k - b * image, c = e / hw, t = e - c * hw, uy = t / w;
  const int iy = static_cast<int>(uy), ix = static_cast<int>(t - uy * w);
  const int sh = static_cast<int>(g.stride_h), sw = static_cast<int>(g.stride_w);
  const int oh = static_cast<int>(g.oh), ow = static_cast<int>(g.ow);
  const std::int64_t wide = nb * g.oh * g.ow;
  const T* base = col + static_cast<std::int64_t>(b) * g.oh * g.ow;
  T acc = 0;
  for (int i = 0; i < static_cast<int>(g.k_h); ++i) {
    const int ty = iy + static_cast<int>(g.pad_h) - i * static_cast<int>(g.dil_h);  // = y·stride_h of the row reading iy
    if (ty < 0 || ty % sh != 0 || ty / sh >= oh) continue;
    const int y = ty / sh;
    for (int j = 0; j < static_cast<int>(g.k_w); ++j) {
      const int tx = ix + static_cast<int>(g.pad_w) - j * static_cast<int>(g.dil_w);
      if (tx < 0 || tx % sw != 0 || tx / sw >= ow) continue;
      acc += base[((static_cast<std::int64_t>(c) * g.k_h + i) * g.k_w + j) * wide + y * ow + tx / sw];
    }
  }
  dst[k] = bias ? acc + bias[c] : acc;
}

// Layout changes between a chunk of NCHW images [nb, C, P] and the GEMMs' channel-major [C, nb·P]; the way back
// optionally adds a per-channel bias. One thread per element, indexed on the NCHW side.
template <class T>
__global__ void to_channel_major_kernel(std::int64_t nb, std::int64_t channels, std::int64_t plane, const T* src,
                                        T* dst) {
  const unsigned P = static_cast<unsigned>(plane), image = static_cast<unsigned>(channels) * P;
  const unsigned k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= static_cast<unsigned>(nb) * image) return;
  const unsigned b = k / image, e = k - b * image, c = e / P, p = e - c * P;
  dst[(static_cast<std::int64_t>(c) * nb + b) * plane + p] = src[k];
}
template <class T>
__global__ void from_channel_major_kernel(std::int64_t nb, std::int64_t channels, std::int64_t plane, const T* src,
                                          const T* bias, T* dst) {
  const unsigned P = static_cast<unsigned>(plane), image = static_cast<unsigned>(channels) * P;
  const unsigned k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= static_cast<unsigned>(nb) * image) return;
  const unsigned b = k / image, e = k - b * image, c = e / P, p = e - c * P;
  const T v = src[(static_cast<std::int64_t>(c) * nb + b) * plane + p];
  dst[k] = bias ? v + bias[c] : v;
}

// dbias[c] += Σ_{b, t} src[b, c, t], in double, rounded once, in a fixed order (deterministic). Two passes: block
// (c, s) of the 1-D grid (c·splits + s) sums images [n·s/splits, n·(s+1)/splits) of channel c into partial[c·splits + s];
// then one thread per channel adds its partials in s order. (One block per channel walking all images took 0.3 ms per
// call on the VQ-VAE's 7×7 layers: 49 of 256 threads busy, 512 dependent steps.)
template <class T>
__global__ void channel_partial_sums_kernel(std::int64_t n, std::int64_t channels, std::int64_t plane, unsigned splits,
                                            const T* src, double* partial) {
  const unsigned c = blockIdx.x / splits, s = blockIdx.x - c * splits;
  const std::int64_t b0 = n * s / splits, b1 = n * (s + 1) / splits;
  const unsigned P = static_cast<unsigned>(plane), count = static_cast<unsigned>((b1 - b0) * plane);
  double acc = 0;
  for (unsigned k = threadIdx.x; k < count; k += blockDim.x) {
    const unsigned b = k / P, t = k - b * P;
    acc += static_cast<double>(src[((b0 + b) * channels + c) * plane + t]);
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}
template <class T>
__global__ void channel_sums_finish_kernel(std::int64_t channels, unsigned splits, const double* partial, T* dbias) {
  const std::int64_t c = thread_index();
  if (c >= channels) return;
  double s = 0;
  for (unsigned i = 0; i < splits; ++i) s += partial[c * splits + i];
  dbias[c] += static_cast<T>(s);
}

template <class T>
void im2col(const window& g, std::int64_t nb, const T* src, T* col) {
  const std::int64_t wide = nb * g.oh * g.ow, rows = g.c * g.k_h * g.k_w;
  if (wide == 0 || rows == 0) return;
  const unsigned qblocks = blocks_for(wide);
  im2col_kernel<<<blocks_for(rows * qblocks * threads_per_block), threads_per_block, 0, stream()>>>(g, nb, qblocks,
                                                                                                    src, col);
  check_launch("vae::cuda im2col");
}
template <class T>
void col2im(const window& g, std::int64_t nb, const T* col, const T* bias, T* dst) {
  const std::int64_t n = nb * g.c * g.h * g.w;
  if (n == 0) return;
  col2im_kernel<<<blocks_for(n), threads_per_block, 0, stream()>>>(g, nb, col, bias, dst);
  check_launch("vae::cuda col2im");
}
template <class T>
void to_channel_major(std::int64_t nb, std::int64_t channels, std::int64_t plane, const T* src, T* dst) {
  const std::int64_t n = nb * channels * plane;
  if (n == 0) return;
  to_channel_major_kernel<<<blocks_for(n), threads_per_block, 0, stream()>>>(nb, channels, plane, src, dst);
  check_launch("vae::cuda to_channel_major");
}
template <class T>
void from_channel_major(std::int64_t nb, std::int64_t channels, std::int64_t plane, const T* src, const T* bias,
                        T* dst) {
  const std::int64_t n = nb * channels * plane;
  if (n == 0) return;
  from_channel_major_kernel<<<blocks_for(n), threads_per_block, 0, stream()>>>(nb, channels, plane, src, bias, dst);
  check_launch("vae::cuda from_channel_major");
}
template <class T>
void add_channel_sums(std::int64_t n, std::int64_t channels, std::int64_t plane, const T* src, T* dbias) {
  if (channels == 0) return;
  // About a thousand blocks in all, each summing at most 2^30 values (its 32-bit count).
  std::int64_t splits = std::min<std::int64_t>(std::max<std::int64_t>(n, 1), std::max<std::int64_t>(1, 1024 / channels));
  const std::int64_t per_split_cap = std::int64_t{1} << 30;
  check(plane <= per_split_cap, "vae::cuda add_channel_sums: a channel plane over 2^30 elements");
  while (splits < n && ((n + splits - 1) / splits) * plane > per_split_cap) ++splits;
  tensor<double, cuda> partial({channels * splits});
  const auto s = static_cast<unsigned>(splits);
  check(channels * splits <= 0x7fffffff, "vae::cuda add_channel_sums: too many channels for one grid");
  channel_partial_sums_kernel<<<static_cast<unsigned>(channels * splits), reduce_threads, 0, stream()>>>(
      n, channels, plane, s, src, partial.data());
  check_launch("vae::cuda channel_partial_sums");
  channel_sums_finish_kernel<<<blocks_for(channels), threads_per_block, 0, stream()>>>(channels, s, partial.data(),
                                                                                       dbias);
  check_launch("vae::cuda channel_sums_finish");
}

// Images per chunk: the columns of a whole batch are one GEMM wide (a few large cuBLAS calls per layer instead of
// a few small ones per image), capped so that the scratch stays under 2^26 elements (256 MB of float) and each
// chunk's input and output under 2^30 (the kernels' 32-bit indices, cuBLAS's int dimensions).
inline std::int64_t chunk_images(std::int64_t n, std::int64_t scratch_per_image, std::int64_t tensor_per_image) {
  const std::int64_t by_scratch = (std::int64_t{1} << 26) / std::max<std::int64_t>(scratch_per_image, 1);
  const std::int64_t by_tensor = (std::int64_t{1} << 30) / std::max<std::int64_t>(tensor_per_image, 1);
  return std::max<std::int64_t>(1, std::min({n, by_scratch, by_tensor}));
}

// What the conv2d and conv_transpose2d device kernels share: NCHW activations (cuBLAS products over channel-major
// columns), and batches cut into chunks of images whose scratch is Kernel::per_image(d) elements each.
template <class Kernel, class Dims>
struct conv_chunking {
  static constexpr memory_format activation_format = memory_format::channels_first;
  static std::int64_t chunk(const Dims& d) {
    return chunk_images(d.n, Kernel::per_image(d), std::max(d.in_c * d.in_h * d.in_w, d.out_c * d.out_h * d.out_w));
  }
  static std::int64_t scratch_size(const Dims& d, memory_format) {
    return d.n == 0 ? 0 : chunk(d) * Kernel::per_image(d);
  }
};

}  // namespace cuda_detail

template <>
struct kernel<conv2d_op, cuda> : cuda_detail::conv_chunking<kernel<conv2d_op, cuda>, conv2d_dims> {
  // Per image: the columns [in_c·k_h·k_w, out_h·out_w] plus the output (or dy) in channel-major order.
  static std::int64_t per_image(const conv2d_dims& d) { return (d.in_c * d.k_h * d.k_w + d.out_c) * d.out_h * d.out_w; }

  // Per chunk of nb images: col [in_c·kk, nb·ohw] = im2col; yt_g [cout_g, nb·ohw] = w_g [cout_g, kg] · col_g;
  // y = yt back to NCHW with the bias.
  template <class T>
  static void forward(const conv2d_dims& d, const T* x, const T* w, const T* bias, T* y, T* scratch, memory_format f,
                      conv_output<T> out) {
    cuda_detail::require_channels_first("conv2d", f);
    const std::int64_t ohw = d.out_h * d.out_w, in_img = d.in_c * d.in_h * d.in_w, nc = chunk(d);
    const std::int64_t cin_g = d.in_c / d.groups, cout_g = d.out_c / d.groups, kg = cin_g * d.k_h * d.k_w;
    const auto g = cuda_detail::input_windows(d);
    for (std::int64_t b0 = 0; b0 < d.n; b0 += nc) {
      const std::int64_t nb = std::min(nc, d.n - b0), wide = nb * ohw;
      T *col = scratch, *yt = scratch + d.in_c * d.k_h * d.k_w * wide;
      cuda_detail::im2col(g, nb, x + b0 * in_img, col);
      for (std::int64_t gr = 0; gr < d.groups; ++gr)
        cuda_detail::gemm<T>(false, false, cout_g, wide, kg, T(1), w + gr * cout_g * kg, kg, col + gr * kg * wide,
                             wide, T(0), yt + gr * cout_g * wide, wide);
      cuda_detail::from_channel_major(nb, d.out_c, ohw, yt, bias, y + b0 * d.out_c * ohw);
    }
    cuda_detail::apply_conv_output(d.n * d.out_c * d.out_h * d.out_w, out, y);
  }

  // Per chunk: dyt = dy in channel-major order; dw_g += dyt_g · col_gᵀ (one GEMM over the chunk's images);
  // dcol_g = w_gᵀ · dyt_g, then col2im.
  template <class T>
  static void backward(const conv2d_dims& d, const T* x, const T* w, const T* dy, T* dx, T* dw, T* dbias,
                       T* scratch, memory_format f, conv_input_grad<T> in) {
    cuda_detail::require_channels_first("conv2d", f);
    const std::int64_t ohw = d.out_h * d.out_w, in_img = d.in_c * d.in_h * d.in_w, nc = chunk(d);
    const std::int64_t cin_g = d.in_c / d.groups, cout_g = d.out_c / d.groups, kg = cin_g * d.k_h * d.k_w;
    if (dbias) cuda_detail::add_channel_sums(d.n, d.out_c, ohw, dy, dbias);
    if (!dw && !dx) return;
    const auto g = cuda_detail::input_windows(d);
    for (std::int64_t b0 = 0; b0 < d.n; b0 += nc) {
      const std::int64_t nb = std::min(nc, d.n - b0), wide = nb * ohw;
      T *col = scratch, *dyt = scratch + d.in_c * d.k_h * d.k_w * wide;
      cuda_detail::to_channel_major(nb, d.out_c, ohw, dy + b0 * d.out_c * ohw, dyt);
      if (dw) {
        cuda_detail::im2col(g, nb, x + b0 * in_img, col);
        for (std::int64_t gr = 0; gr < d.groups; ++gr)
          cuda_detail::gemm<T>(false, true, cout_g, kg, wide, T(1), dyt + gr * cout_g * wide, wide,
                               col + gr * kg * wide, wide, T(1), dw + gr * cout_g * kg, kg);
      }
      if (dx) {  // same stream: the dcol GEMMs run after the dw GEMMs have read col
        for (std::int64_t gr = 0; gr < d.groups; ++gr)
          cuda_detail::gemm<T>(true, false, kg, wide, cout_g, T(1), w + gr * cout_g * kg, kg, dyt + gr * cout_g * wide,
                               wide, T(0), col + gr * kg * wide, wide);
        cuda_detail::col2im(g, nb, col, static_cast<const T*>(nullptr), dx + b0 * in_img);
      }
    }
    cuda_detail::apply_conv_input_grad(d.n * d.in_c * d.in_h * d.in_w, in, x, dx);
  }
};

}  // namespace vae
