// cuda kernel of the conv_transpose2d op, the adjoint of conv2d: per chunk of images, one cuBLAS GEMM per group
// (columns = Wᵀ·x in channel-major order) then col2im; backward im2col of dy then GEMMs. Reuses the conv2d helpers.
#pragma once
#include <algorithm>
#include <cstdint>

#include "vae/backend/cuda.hpp"
#include "vae/backend/cuda/conv_fusion.cuh"
#include "vae/backend/cuda/conv2d.cuh"
#include "vae/backend/cuda/linear.cuh"
#include "vae/ops/conv_transpose2d.hpp"

namespace vae {

namespace cuda_detail {
// The output seen as the input of the matching conv2d: one image [out_c, out_h, out_w] on an in_h×in_w grid.
inline window output_windows(const conv_transpose2d_dims& d) {
  return {d.out_c, d.out_h, d.out_w, d.k_h, d.k_w, d.stride_h, d.stride_w, d.pad_h, d.pad_w, d.dil_h, d.dil_w,
          d.in_h, d.in_w};
}
}  // namespace cuda_detail

template <>
struct kernel<conv_transpose2d_op, cuda>
    : cuda_detail::conv_chunking<kernel<conv_transpose2d_op, cuda>, conv_transpose2d_dims> {
  // Per image: the columns [out_c·k_h·k_w, in_h·in_w] plus x (or dx) in channel-major order [in_c, in_h·in_w].
  static std::int64_t per_image(const conv_transpose2d_dims& d) {
    return (d.out_c * d.k_h * d.k_w + d.in_c) * d.in_h * d.in_w;
  }

  // Per chunk of nb images: xt [in_c, nb·hw] = x channel-major; col_g [kg, nb·hw] = w_gᵀ · xt_g with w_g
  // [cin_g, kg]; col2im into y, adding the bias.
  template <class T>
  static void forward(const conv_transpose2d_dims& d, const T* x, const T* w, const T* bias, T* y, T* scratch,
                      memory_format f, conv_output<T> out) {
    cuda_detail::require_channels_first("conv_transpose2d", f);
    const std::int64_t hw = d.in_h * d.in_w, out_img = d.out_c * d.out_h * d.out_w, nc = chunk(d);
    const std::int64_t cin_g = d.in_c / d.groups, cout_g = d.out_c / d.groups, kg = cout_g * d.k_h * d.k_w;
    const auto g = cuda_detail::output_windows(d);
    for (std::int64_t b0 = 0; b0 < d.n; b0 += nc) {
      const std::int64_t nb = std::min(nc, d.n - b0), wide = nb * hw;
      T *col = scratch, *xt = scratch + d.out_c * d.k_h * d.k_w * wide;
      cuda_detail::to_channel_major(nb, d.in_c, hw, x + b0 * d.in_c * hw, xt);
      for (std::int64_t gr = 0; gr < d.groups; ++gr)
        cuda_detail::gemm<T>(true, false, kg, wide, cin_g, T(1), w + gr * cin_g * kg, kg, xt + gr * cin_g * wide, wide,
                             T(0), col + gr * kg * wide, wide);
      cuda_detail::col2im(g, nb, col, bias, y + b0 * out_img);
    }
    cuda_detail::apply_conv_output(d.n * d.out_c * d.out_h * d.out_w, out, y);
  }

  // Per chunk: dcol = im2col(dy) [out_c·kk, nb·hw]; dw_g[cin_g, kg] += xt_g · dcol_gᵀ; dxt_g = w_g · dcol_g, back to
  // NCHW.
  template <class T>
  static void backward(const conv_transpose2d_dims& d, const T* x, const T* w, const T* dy, T* dx, T* dw, T* dbias,
                       T* scratch, memory_format f, conv_input_grad<T> in) {
    cuda_detail::require_channels_first("conv_transpose2d", f);
    const std::int64_t hw = d.in_h * d.in_w, out_img = d.out_c * d.out_h * d.out_w, nc = chunk(d);
    const std::int64_t cin_g = d.in_c / d.groups, cout_g = d.out_c / d.groups, kg = cout_g * d.k_h * d.k_w;
    if (dbias) cuda_detail::add_channel_sums(d.n, d.out_c, d.out_h * d.out_w, dy, dbias);
    if (!dw && !dx) return;
    const auto g = cuda_detail::output_windows(d);
    for (std::int64_t b0 = 0; b0 < d.n; b0 += nc) {
      const std::int64_t nb = std::min(nc, d.n - b0), wide = nb * hw;
      T *col = scratch, *t = scratch + d.out_c * d.k_h * d.k_w * wide;
      cuda_detail::im2col(g, nb, dy + b0 * out_img, col);
      if (dw) {
        cuda_detail::to_channel_major(nb, d.in_c, hw, x + b0 * d.in_c * hw, t);
        for (std::int64_t gr = 0; gr < d.groups; ++gr)
          cuda_detail::gemm<T>(false, true, cin_g, kg, wide, T(1), t + gr * cin_g * wide, wide, col + gr * kg * wide,
                               wide, T(1), dw + gr * cin_g * kg, kg);
      }
      if (dx) {  // same stream: overwrites t after the dw GEMMs have read it
        for (std::int64_t gr = 0; gr < d.groups; ++gr)
          cuda_detail::gemm<T>(false, false, cin_g, wide, kg, T(1), w + gr * cin_g * kg, kg, col + gr * kg * wide, wide,
                               T(0), t + gr * cin_g * wide, wide);
        cuda_detail::from_channel_major(nb, d.in_c, hw, t, static_cast<const T*>(nullptr), dx + b0 * d.in_c * hw);
      }
    }
    cuda_detail::apply_conv_input_grad(d.n * d.in_c * d.in_h * d.in_w, in, x, dx);
  }
};

}  // namespace vae
