// cpu kernel of the conv_transpose2d op: the adjoint of conv2d (columns = Wᵀ·x, col2im; backward im2col + GEMMs),
// over cache-sized chunks of images like the conv2d kernel.
#pragma once
#include <algorithm>
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/conv2d.hpp"
#include "vae/backend/cpu/conv_plan.hpp"
#include "vae/backend/cpu/gemm.hpp"
#include "vae/ops/conv_transpose2d.hpp"

namespace vae {

namespace cpu_detail {
// The output seen as the input of the matching conv2d: windows over `count` images [out_c, out_h, out_w] on an
// in_h×in_w grid.
inline window_geometry output_windows(const conv_transpose2d_dims& d, std::int64_t count) {
  return {count, d.out_c, d.out_h, d.out_w, d.k_h, d.k_w, d.stride_h, d.stride_w,
          d.pad_h, d.pad_w, d.dil_h, d.dil_w, d.in_h, d.in_w};
}
// The conv2d whose input gradient conv_transpose2d d computes: input [n, out_h, out_w, out_c] → output [n, in_h, in_w,
// in_c], with d's weight [in_c, out_c, k_h, k_w] read as that conv2d's [out, in, k_h, k_w].
inline conv2d_plan adjoint_conv(const conv_transpose2d_plan& d) {
  conv2d_dims c{d.n, d.out_c, d.out_h, d.out_w, d.in_c, d.k_h, d.k_w};
  c.stride_h = d.stride_h, c.stride_w = d.stride_w, c.pad_h = d.pad_h, c.pad_w = d.pad_w;
  c.dil_h = d.dil_h, c.dil_w = d.dil_w, c.groups = d.groups;
  conv2d_plan p(c.finish());
  p.channels_last_in = d.channels_last_out, p.channels_last_out = d.channels_last_in;
  p.winograd = d.winograd;
  return p;
}
// Whether the Winograd transforms compute d: its adjoint conv2d fits them (4×4 stride 2 or 3×3 stride 1, padding 1,
// channels-last both sides) and maps back onto d's input exactly (no output padding).
inline bool winograd_fits(const conv_transpose2d_plan& d) {
  const auto c = adjoint_conv(d);
  return d.out_pad_h == 0 && d.out_pad_w == 0 && c.out_h == d.in_h && c.out_w == d.in_w && winograd_fits(c);
}
}  // namespace cpu_detail

template <>
struct kernel<conv_transpose2d_op, cpu>
    : cpu_detail::conv_kernel_entry<kernel<conv_transpose2d_op, cpu>, conv_transpose2d_dims,
                                    cpu_detail::conv_transpose2d_plan> {
  using entry = cpu_detail::conv_kernel_entry<kernel<conv_transpose2d_op, cpu>, conv_transpose2d_dims,
                                              cpu_detail::conv_transpose2d_plan>;
  using entry::backward;
  using entry::forward;
  using entry::scratch_size;

  // Per task: col [out_c·kk, nb·hw], xcn [in_c, nb·hw], dxcn [in_c, nb·hw]; then one partial weight gradient
  // [in_c, out_c/groups·kk] per task when there is more than one task.
  struct layout {
    cpu_detail::chunk_plan plan;
    std::int64_t col, xcn, per_task, dw;
  };
  static layout plan(const conv_transpose2d_dims& d) {
    layout l;
    const std::int64_t hw = d.in_h * d.in_w, rows = d.out_c * d.k_h * d.k_w;
    l.plan = cpu_detail::plan_chunks(d.n, rows * hw);
    l.col = rows * l.plan.per_chunk * hw;
    l.xcn = d.in_c * l.plan.per_chunk * hw;
    l.per_task = l.col + 2 * l.xcn;
    l.dw = l.plan.tasks > 1 ? d.in_c * rows / d.groups : 0;
    return l;
  }
  // Channels-last columns (see conv2d) when the windowed side, the output, has enough channels, and for
  // channels-last activations (read and written in place); Winograd where it fits.
  static cpu_detail::conv_path path_for(const cpu_detail::conv_transpose2d_plan& d) {
    if (cpu_detail::winograd_fits(d)) return cpu_detail::conv_path::winograd;
    const bool wide = d.groups == 1 && d.out_c >= cpu_detail::channels_last_min;
    return wide || d.channels_last_in || d.channels_last_out ? cpu_detail::conv_path::channels_last
                                                             : cpu_detail::conv_path::columns;
  }
  static std::int64_t scratch_size(const cpu_detail::conv_transpose2d_plan& d, cpu_detail::conv_path path) {
    if (path == cpu_detail::conv_path::winograd) return cpu_detail::winograd_scratch_size(cpu_detail::adjoint_conv(d));
    if (path == cpu_detail::conv_path::channels_last) {
      const auto l = plan_cl(d);
      return l.plan.tasks * (l.per_task + l.w) + l.w;
    }
    const auto l = plan(d);
    return l.plan.tasks * (l.per_task + l.dw);
  }

  // One call on an explicit path (tests compare the paths; `scratch` holds scratch_size(d, path) elements); the
  // epilogues as conv2d's.
  template <class T>
  static void forward(const cpu_detail::conv_transpose2d_plan& d, const T* x, const T* w, const T* bias, T* y,
                      T* scratch, cpu_detail::conv_path path, const T* residual = nullptr) {
    if (path == cpu_detail::conv_path::winograd) {
      forward_wg(d, x, w, bias, y, scratch, residual);
      return;
    }
    if (path == cpu_detail::conv_path::channels_last) {
      check(d.groups == 1, "conv_transpose2d: the channels-last path needs groups == 1");
      forward_cl(d, x, w, bias, y, scratch, residual);
      return;
    }
    check(!d.channels_last_in && !d.channels_last_out,
          "conv_transpose2d: channels-last activations need the channels-last path");
    const auto l = plan(d);
    const std::int64_t hw = d.in_h * d.in_w, out_img = d.out_c * d.out_h * d.out_w, plane = d.out_h * d.out_w;
    const std::int64_t cin_g = d.in_c / d.groups, cout_g = d.out_c / d.groups, kg = cout_g * d.k_h * d.k_w;
    cpu_detail::for_chunks(l.plan, d.n, d.n * hw * d.in_c * kg, [&](std::int64_t t, std::int64_t b0, std::int64_t nb) {
      T* col = scratch + t * l.per_task;
      T* xcn = col + l.col;
      const std::int64_t cols = nb * hw;
      cpu_detail::nchw_to_cn(nb, d.in_c, hw, x + b0 * d.in_c * hw, xcn);
      for (std::int64_t gr = 0; gr < d.groups; ++gr)
        cpu_detail::gemm<T>(true, false, kg, cols, cin_g, T(1), w + gr * cin_g * kg, kg, xcn + gr * cin_g * cols,
                            cols, T(0), col + gr * kg * cols, cols);
      T* yb = y + b0 * out_img;
      cpu_detail::col2im(cpu_detail::output_windows(d, nb), col, yb);
      if (bias) {
        for (std::int64_t bc = 0; bc < nb * d.out_c; ++bc) {
          T* o = yb + bc * plane;
          const T b = bias[bc % d.out_c];
          for (std::int64_t p = 0; p < plane; ++p) o[p] += b;
        }
      }
      cpu_detail::finish_output(nb * out_img, d.relu_out, residual ? residual + b0 * out_img : nullptr, yb);
    });
  }

  template <class T>
  static void backward(const cpu_detail::conv_transpose2d_plan& d, const T* x, const T* w, const T* dy, T* dx, T* dw,
                       T* dbias, T* scratch, cpu_detail::conv_path path, const T* dx_residual = nullptr) {
    if (path == cpu_detail::conv_path::winograd) {
      backward_wg(d, x, w, dy, dx, dw, dbias, scratch, dx_residual);
      return;
    }
    if (path == cpu_detail::conv_path::channels_last) {
      check(d.groups == 1, "conv_transpose2d: the channels-last path needs groups == 1");
      backward_cl(d, x, w, dy, dx, dw, dbias, scratch, dx_residual);
      return;
    }
    check(!d.channels_last_in && !d.channels_last_out,
          "conv_transpose2d: channels-last activations need the channels-last path");
    const auto l = plan(d);
    const std::int64_t hw = d.in_h * d.in_w, out_img = d.out_c * d.out_h * d.out_w;
    const std::int64_t cin_g = d.in_c / d.groups, cout_g = d.out_c / d.groups, kg = cout_g * d.k_h * d.k_w;
    if (dbias) cpu_detail::add_channel_sums(d.n, d.out_c, d.out_h * d.out_w, dy, dbias);
    if (!dw && !dx) return;
    T* partials = scratch + l.plan.tasks * l.per_task;
    if (dw && l.dw) std::fill(partials, partials + l.plan.tasks * l.dw, T(0));
    const std::int64_t cost = d.n * hw * d.in_c * kg * ((dw ? 1 : 0) + (dx ? 1 : 0));
    cpu_detail::for_chunks(l.plan, d.n, cost, [&](std::int64_t t, std::int64_t b0, std::int64_t nb) {
      T* dcol = scratch + t * l.per_task;
      T* xcn = dcol + l.col;
      T* dxcn = xcn + l.xcn;
      const std::int64_t cols = nb * hw;
      cpu_detail::im2col(cpu_detail::output_windows(d, nb), dy + b0 * out_img, dcol);
      if (dw) {
        T* g = l.dw ? partials + t * l.dw : dw;
        cpu_detail::nchw_to_cn(nb, d.in_c, hw, x + b0 * d.in_c * hw, xcn);
        for (std::int64_t gr = 0; gr < d.groups; ++gr)
          cpu_detail::gemm<T>(false, true, cin_g, kg, cols, T(1), xcn + gr * cin_g * cols, cols,
                              dcol + gr * kg * cols, cols, T(1), g + gr * cin_g * kg, kg);
      }
      if (dx) {
        for (std::int64_t gr = 0; gr < d.groups; ++gr)
          cpu_detail::gemm<T>(false, false, cin_g, cols, kg, T(1), w + gr * cin_g * kg, kg, dcol + gr * kg * cols,
                              cols, T(0), dxcn + gr * cin_g * cols, cols);
        cpu_detail::cn_to_nchw<T>(nb, d.in_c, hw, dxcn, nullptr, dx + b0 * d.in_c * hw);
        cpu_detail::finish_input_grad_images(d.in_c * hw, b0, nb, d.relu_in, x, dx_residual, dx);
      }
    });
    if (dw && l.dw) cpu_detail::reduce_partials(partials, l.plan.tasks, l.dw, dw);
  }

 private:
  static void check_winograd(const cpu_detail::conv_transpose2d_plan& d) {
    check(cpu_detail::winograd_fits(d),
          "conv_transpose2d: the Winograd path needs a 4x4 stride-2 or 3x3 stride-1 kernel, padding 1, no output "
          "padding or dilation, groups 1, channels-last input and output and at least 16 channels each side");
  }
  // y = the input gradient of the adjoint conv2d for dy = x (Winograd: dM = A x Aᵀ, dV = dM·Uᵀ, the input transform's
  // adjoint), then + bias and ReLU (d.relu_out) on each chunk while it is in cache.
  template <class T>
  static void forward_wg(const cpu_detail::conv_transpose2d_plan& d, const T* x, const T* w, const T* bias, T* y,
                         T* scratch, const T* residual) {
    check_winograd(d);
    cpu_detail::winograd_io<T> io;
    io.w = w, io.dy = x, io.din = y;
    const std::int64_t rows = d.out_h * d.out_w;
    cpu_detail::winograd_pass(cpu_detail::adjoint_conv(d), io, scratch, {}, [&](std::int64_t b0, std::int64_t nb) {
      const std::int64_t at = b0 * rows * d.out_c;
      cpu_detail::add_row_bias(nb * rows, d.out_c, bias, y + at, d.relu_out);
      if (residual) cpu_detail::add_residual(nb * rows * d.out_c, residual + at, y + at);
    });
  }
  // dx = the adjoint conv2d's forward of dy, masked by relu'(x) with d.relu_in; dw += its weight gradient for input dy
  // and output gradient x; both in one pass over the chunks.
  template <class T>
  static void backward_wg(const cpu_detail::conv_transpose2d_plan& d, const T* x, const T* w, const T* dy, T* dx,
                          T* dw, T* dbias, T* scratch, const T* dx_residual) {
    check_winograd(d);
    if (dbias) cpu_detail::add_bias_grad(d.n, d.out_c, d.out_h * d.out_w, dy, true, dbias);
    if (!dw && !dx) return;
    cpu_detail::winograd_io<T> io;
    io.in = dy, io.w = w, io.out = dx, io.dy = dw ? x : nullptr, io.dw = dw;
    const std::int64_t in_img = d.in_h * d.in_w * d.in_c;
    cpu_detail::winograd_pass(cpu_detail::adjoint_conv(d), io, scratch, [&](std::int64_t b0, std::int64_t nb) {
      cpu_detail::finish_input_grad_images(in_img, b0, nb, d.relu_in, x, dx_residual, dx);
    });
  }

  // Channels-last: per task xl [nb·ihw, in_c], col [nb·ihw, K] (none when pointwise: col = yl), yl [nb·ohw, out_c];
  // then one weight buffer [in_c, K] per task (backward partials) and one shared (the weight in column order),
  // K = kk·out_c. The windows run over the output (out_c channels) onto the input grid.
  struct layout_cl {
    cpu_detail::chunk_plan plan;
    std::int64_t xl, col, yl, per_task, w;
    bool pointwise;
  };
  static layout_cl plan_cl(const conv_transpose2d_dims& d) {
    layout_cl l;
    const std::int64_t ihw = d.in_h * d.in_w, k = d.out_c * d.k_h * d.k_w;
    l.pointwise = cpu_detail::pointwise(cpu_detail::output_windows(d, 1));
    l.plan = cpu_detail::plan_chunks(d.n, k * ihw);
    l.xl = d.in_c * ihw * l.plan.per_chunk;
    l.col = l.pointwise ? 0 : k * ihw * l.plan.per_chunk;
    l.yl = d.out_c * d.out_h * d.out_w * l.plan.per_chunk;
    l.per_task = l.xl + l.col + l.yl;
    l.w = d.in_c * k;
    return l;
  }

  // A side is read or written in place when it is channels-last, or has one channel (then NCHW is the same memory).
  static bool input_in_place(const cpu_detail::conv_transpose2d_plan& d) { return d.channels_last_in || d.in_c == 1; }
  static bool output_in_place(const cpu_detail::conv_transpose2d_plan& d) { return d.channels_last_out || d.out_c == 1; }

  template <class T>
  static void forward_cl(const cpu_detail::conv_transpose2d_plan& d, const T* x, const T* w, const T* bias, T* y,
                         T* scratch, const T* residual) {
    const auto l = plan_cl(d);
    const std::int64_t ihw = d.in_h * d.in_w, ohw = d.out_h * d.out_w, kk = d.k_h * d.k_w, k = d.out_c * kk;
    const bool x_in_place = input_in_place(d), y_in_place = output_in_place(d);
    T* wr = scratch + l.plan.tasks * (l.per_task + l.w);
    cpu_detail::weight_to_channels_last(d.in_c, d.out_c, kk, w, wr);
    cpu_detail::for_chunks_dynamic(l.plan, d.n, d.n * ihw * d.in_c * k, [&](std::int64_t t, std::int64_t b0,
                                                                            std::int64_t nb) {
      T* xl = scratch + t * l.per_task;
      T* col = xl + l.xl;
      const T* xin = x + b0 * d.in_c * ihw;
      if (!x_in_place) cpu_detail::nchw_to_nhwc(nb, d.in_c, ihw, xin, xl);
      T* yb = y + b0 * d.out_c * ohw;
      T* yl = y_in_place ? yb : col + l.col;
      T* cols = l.pointwise ? yl : col;
      cpu_detail::gemm<T>(false, false, nb * ihw, k, d.in_c, T(1), x_in_place ? xin : xl, d.in_c, wr, k, T(0), cols, k);
      if (!l.pointwise) cpu_detail::col2im_cl(cpu_detail::output_windows(d, nb), col, yl);
      const T* res = residual ? residual + b0 * d.out_c * ohw : nullptr;
      if (y_in_place) {
        cpu_detail::add_row_bias(nb * ohw, d.out_c, bias, yl, d.relu_out);
        if (res) cpu_detail::add_residual(nb * d.out_c * ohw, res, yb);
      } else {
        cpu_detail::nhwc_to_nchw(nb, d.out_c, ohw, yl, bias, yb);
        cpu_detail::finish_output(nb * d.out_c * ohw, d.relu_out, res, yb);
      }
    });
  }

  template <class T>
  static void backward_cl(const cpu_detail::conv_transpose2d_plan& d, const T* x, const T* w, const T* dy, T* dx,
                          T* dw, T* dbias, T* scratch, const T* dx_residual) {
    const auto l = plan_cl(d);
    const std::int64_t ihw = d.in_h * d.in_w, ohw = d.out_h * d.out_w, kk = d.k_h * d.k_w, k = d.out_c * kk;
    const bool x_in_place = input_in_place(d), y_in_place = output_in_place(d);
    if (dbias) cpu_detail::add_bias_grad(d.n, d.out_c, ohw, dy, y_in_place, dbias);
    if (!dw && !dx) return;
    T* partials = scratch + l.plan.tasks * l.per_task;
    T* wt = partials + l.plan.tasks * l.w;  // [k, in_c]
    if (dx) cpu_detail::weight_to_channels_last_transposed(d.in_c, d.out_c, kk, w, wt);
    if (dw) std::fill(partials, partials + l.plan.tasks * l.w, T(0));
    const std::int64_t cost = d.n * ihw * d.in_c * k * ((dw ? 1 : 0) + (dx ? 1 : 0));
    cpu_detail::for_chunks(l.plan, d.n, cost, [&](std::int64_t t, std::int64_t b0, std::int64_t nb) {
      T* xl = scratch + t * l.per_task;
      T* col = xl + l.xl;
      const std::int64_t rows = nb * ihw;
      const T* dyb = dy + b0 * d.out_c * ohw;
      if (!y_in_place) cpu_detail::nchw_to_nhwc(nb, d.out_c, ohw, dyb, col + l.col);
      const T* yl = y_in_place ? dyb : col + l.col;
      // dy's windows: read in place by the products where the kernel can (no im2col copy), else copied.
      const auto g = cpu_detail::output_windows(d, nb);
      const bool in_place = !l.pointwise && cpu_detail::windows_in_place<T>(g);
      const auto windows = in_place ? cpu_detail::windows_of(g, yl) : cpu_detail::window_source<T>{};
      if (!in_place && !l.pointwise) cpu_detail::im2col_cl(g, yl, col);
      const T* dcol = l.pointwise ? yl : col;
      if (dw) {
        const T* xin = x + b0 * d.in_c * ihw;
        if (!x_in_place) cpu_detail::nchw_to_nhwc(nb, d.in_c, ihw, xin, xl);
        const T* xcl = x_in_place ? xin : xl;
        if (in_place)
          cpu_detail::window_weight_product(d.in_c, k, rows, xcl, d.in_c, windows, partials + t * l.w, k);
        else
          cpu_detail::gemm<T>(true, false, d.in_c, k, rows, T(1), xcl, d.in_c, dcol, k, T(1), partials + t * l.w, k);
      }
      if (dx) {
        T* dxb = dx + b0 * d.in_c * ihw;
        T* dxl = x_in_place ? dxb : xl;
        if (in_place)
          cpu_detail::window_product(rows, d.in_c, k, windows, wt, d.in_c, dxl, d.in_c);
        else
          cpu_detail::gemm<T>(false, false, rows, d.in_c, k, T(1), dcol, k, wt, d.in_c, T(0), dxl, d.in_c);
        if (!x_in_place) cpu_detail::nhwc_to_nchw<T>(nb, d.in_c, ihw, xl, nullptr, dxb);
        cpu_detail::finish_input_grad_images(d.in_c * ihw, b0, nb, d.relu_in, x, dx_residual, dx);
      }
    });
    if (dw) cpu_detail::add_weight_from_channels_last(d.in_c, d.out_c, kk, partials, l.plan.tasks, dw);
  }
};

}  // namespace vae
