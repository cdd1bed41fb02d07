// cpu kernel of the conv_transpose2d op: the adjoint of conv2d (columns = Wᵀ·x, col2im; backward im2col + GEMMs).
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/conv2d.hpp"
#include "vae/backend/cpu/gemm.hpp"
#include "vae/ops/conv_transpose2d.hpp"

namespace vae {

namespace cpu_detail {
// The output seen as the input of the matching conv2d: windows over [n, out_c, out_h, out_w] on an in_h×in_w grid.
inline window_geometry output_windows(const conv_transpose2d_dims& d) {
  return {d.n, d.out_c, d.out_h, d.out_w, d.k_h, d.k_w, d.stride_h, d.stride_w,
          d.pad_h, d.pad_w, d.dil_h, d.dil_w, d.in_h, d.in_w};
}
}  // namespace cpu_detail

template <>
struct kernel<conv_transpose2d_op, cpu> {
  // work = [col: out_c·kk, n·hw][xcn: in_c, n·hw][dxcn: in_c, n·hw]
  template <class T>
  static void forward(const conv_transpose2d_dims& d, const T* x, const T* w, const T* bias, T* y, T* work) {
    const std::int64_t hw = d.in_h * d.in_w, cols = d.n * hw;
    const std::int64_t cin_g = d.in_c / d.groups, cout_g = d.out_c / d.groups, kg = cout_g * d.k_h * d.k_w;
    T* col = work;
    T* xcn = work + d.out_c * d.k_h * d.k_w * cols;
    cpu_detail::nchw_to_cn(d.n, d.in_c, hw, x, xcn);
    for (std::int64_t gr = 0; gr < d.groups; ++gr)
      cpu_detail::gemm<T>(true, false, kg, cols, cin_g, T(1), w + gr * cin_g * kg, kg, xcn + gr * cin_g * cols, cols,
                          T(0), col + gr * kg * cols, cols);
    cpu_detail::col2im(cpu_detail::output_windows(d), col, y);
    if (bias) {
      const std::int64_t plane = d.out_h * d.out_w;
      parallel_for(d.n * d.out_c, d.n * d.out_c * plane, [&](std::int64_t bc) {
        T* o = y + bc * plane;
        const T b = bias[bc % d.out_c];
        for (std::int64_t t = 0; t < plane; ++t) o[t] += b;
      });
    }
  }

  template <class T>
  static void backward(const conv_transpose2d_dims& d, const T* x, const T* w, const T* dy, T* dx, T* dw, T* dbias,
                       T* work) {
    const std::int64_t hw = d.in_h * d.in_w, cols = d.n * hw;
    const std::int64_t cin_g = d.in_c / d.groups, cout_g = d.out_c / d.groups, kg = cout_g * d.k_h * d.k_w;
    T* dcol = work;
    T* xcn = work + d.out_c * d.k_h * d.k_w * cols;
    T* dxcn = xcn + d.in_c * cols;
    if (dbias) cpu_detail::add_channel_sums(d.n, d.out_c, d.out_h * d.out_w, dy, dbias);
    cpu_detail::im2col(cpu_detail::output_windows(d), dy, dcol);
    if (dw) {
      cpu_detail::nchw_to_cn(d.n, d.in_c, hw, x, xcn);
      for (std::int64_t gr = 0; gr < d.groups; ++gr)
        cpu_detail::gemm<T>(false, true, cin_g, kg, cols, T(1), xcn + gr * cin_g * cols, cols, dcol + gr * kg * cols,
                            cols, T(1), dw + gr * cin_g * kg, kg);
    }
    if (dx) {
      for (std::int64_t gr = 0; gr < d.groups; ++gr)
        cpu_detail::gemm<T>(false, false, cin_g, cols, kg, T(1), w + gr * cin_g * kg, kg, dcol + gr * kg * cols, cols,
                            T(0), dxcn + gr * cin_g * cols, cols);
      cpu_detail::cn_to_nchw<T>(d.n, d.in_c, hw, dxcn, nullptr, dx);
    }
  }
};

}  // namespace vae
