// cuda kernel of the conv_transpose2d op, the adjoint of conv2d: per image, one cuBLAS GEMM per group (columns =
// Wᵀ·x) then col2im; backward im2col of dy then GEMMs. Reuses the conv2d cuda helpers.
#pragma once
#include <cstdint>

#include "vae/backend/cuda.hpp"
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
struct kernel<conv_transpose2d_op, cuda> {
  // The columns of one image: [out_c·k_h·k_w, in_h·in_w].
  static std::int64_t scratch_size(const conv_transpose2d_dims& d) {
    return d.out_c * d.k_h * d.k_w * d.in_h * d.in_w;
  }

  template <class T>
  static void forward(const conv_transpose2d_dims& d, const T* x, const T* w, const T* bias, T* y, T* scratch) {
    const std::int64_t hw = d.in_h * d.in_w, out_img = d.out_c * d.out_h * d.out_w;
    const std::int64_t cin_g = d.in_c / d.groups, cout_g = d.out_c / d.groups, kg = cout_g * d.k_h * d.k_w;
    const auto g = cuda_detail::output_windows(d);
    for (std::int64_t b = 0; b < d.n; ++b) {
      const T* xb = x + b * d.in_c * hw;  // one image of NCHW input is [in_c, hw]
      for (std::int64_t gr = 0; gr < d.groups; ++gr)  // col_g[kg, hw] = w_gᵀ · x_g with w_g [cin_g, kg]
        cuda_detail::gemm<T>(true, false, kg, hw, cin_g, T(1), w + gr * cin_g * kg, kg, xb + gr * cin_g * hw, hw,
                             T(0), scratch + gr * kg * hw, hw);
      cuda_detail::col2im(g, scratch, y + b * out_img);
    }
    if (bias) cuda_detail::add_channel_bias(d.n, d.out_c, d.out_h * d.out_w, bias, y);
  }

  template <class T>
  static void backward(const conv_transpose2d_dims& d, const T* x, const T* w, const T* dy, T* dx, T* dw, T* dbias,
                       T* scratch) {
    const std::int64_t hw = d.in_h * d.in_w, out_img = d.out_c * d.out_h * d.out_w;
    const std::int64_t cin_g = d.in_c / d.groups, cout_g = d.out_c / d.groups, kg = cout_g * d.k_h * d.k_w;
    if (dbias) cuda_detail::add_channel_sums(d.n, d.out_c, d.out_h * d.out_w, dy, dbias);
    if (!dw && !dx) return;
    const auto g = cuda_detail::output_windows(d);
    for (std::int64_t b = 0; b < d.n; ++b) {
      cuda_detail::im2col(g, dy + b * out_img, scratch);  // dcol [out_c·kk, hw]
      if (dw) {  // dw_g[cin_g, kg] += x_g[cin_g, hw] · dcol_gᵀ
        const T* xb = x + b * d.in_c * hw;
        for (std::int64_t gr = 0; gr < d.groups; ++gr)
          cuda_detail::gemm<T>(false, true, cin_g, kg, hw, T(1), xb + gr * cin_g * hw, hw, scratch + gr * kg * hw, hw,
                               T(1), dw + gr * cin_g * kg, kg);
      }
      if (dx) {  // dx_g[cin_g, hw] = w_g · dcol_g
        T* dxb = dx + b * d.in_c * hw;
        for (std::int64_t gr = 0; gr < d.groups; ++gr)
          cuda_detail::gemm<T>(false, false, cin_g, hw, kg, T(1), w + gr * cin_g * kg, kg, scratch + gr * kg * hw, hw,
                               T(0), dxb + gr * cin_g * hw, hw);
      }
    }
  }
};

}  // namespace vae
