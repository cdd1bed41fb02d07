// cpu kernel of the conv2d op: chunks of images through columns (im2col or read in place) + GEMM, or Winograd, as
// the call's plan (conv2d_plan) chooses.
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/conv2d_channels_last.hpp"
#include "vae/backend/cpu/conv2d_chunk_plan.hpp"
#include "vae/backend/cpu/conv2d_epilogue.hpp"
#include "vae/backend/cpu/conv2d_im2col.hpp"
#include "vae/backend/cpu/conv2d_winograd.hpp"
#include "vae/backend/cpu/conv_plan.hpp"
#include "vae/backend/cpu/gemm.hpp"
#include "vae/backend/cpu/to_memory_format.hpp"
#include "vae/core/error.hpp"
#include "vae/ops/conv2d.hpp"

namespace vae {

template <>
struct kernel<conv2d_op, cpu>
    : cpu_detail::conv_kernel_entry<kernel<conv2d_op, cpu>, conv2d_dims, cpu_detail::conv2d_plan> {
  using entry = cpu_detail::conv_kernel_entry<kernel<conv2d_op, cpu>, conv2d_dims, cpu_detail::conv2d_plan>;
  using entry::backward;
  using entry::forward;
  using entry::scratch_size;

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
  // The path the kernel takes for a call: Winograd where it fits, and for NCHW activations of a 3×3 stride-1
  // convolution (through channels-last copies, as the channels-last columns path copies them), channels-last columns
  // for wide inputs and for channels-last activations (read and written in place), else NCHW columns. NCHW 4×4
  // stride-2 convolutions (conv-vae's) stay on the columns: Winograd measured no faster there, and its other rounding
  // turned two ranks against one process apart by whole Adam steps in tests/dist/mpi/train_cli.sh.
  static cpu_detail::conv_path path_for(const cpu_detail::conv2d_plan& d) {
    const bool nchw_same3 = cpu_detail::winograd_geometry_fits(d) && d.k_h == 3 && d.stride_h == 1;
    if (cpu_detail::winograd_fits(d) || nchw_same3) return cpu_detail::conv_path::winograd;
    const bool wide = d.groups == 1 && d.in_c >= cpu_detail::channels_last_min;
    return wide || d.channels_last_in || d.channels_last_out ? cpu_detail::conv_path::channels_last
                                                             : cpu_detail::conv_path::columns;
  }
  static std::int64_t scratch_size(const cpu_detail::conv2d_plan& d, cpu_detail::conv_path path) {
    if (path == cpu_detail::conv_path::winograd) return cpu_detail::winograd_scratch_size(d) + nchw_copies_size(d);
    if (path == cpu_detail::conv_path::channels_last) {
      const auto l = plan_cl(d);
      return l.plan.tasks * (l.per_task + l.w) + l.w;
    }
    const auto l = plan(d);
    return l.plan.tasks * (l.per_task + l.dw);
  }

  // One call on an explicit path (tests compare the paths; `scratch` holds scratch_size(d, path) elements):
  // y = conv + bias, then ReLU (d.relu_out) or + residual (laid out as y, or null), added in the chunk that writes
  // the output while it is in cache.
  template <class T>
  static void forward(const cpu_detail::conv2d_plan& d, const T* x, const T* w, const T* bias, T* y, T* scratch,
                      cpu_detail::conv_path path, const T* residual = nullptr) {
    if (path == cpu_detail::conv_path::winograd) {
      check_winograd(d);
      forward_wg(d, x, w, bias, y, scratch, residual);
      return;
    }
    if (path == cpu_detail::conv_path::channels_last) {
      check(d.groups == 1, "conv2d: the channels-last path needs groups == 1");
      forward_cl(d, x, w, bias, y, scratch, residual);
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
      const std::int64_t at = b0 * d.out_c * ohw;
      cpu_detail::finish_output(nb * d.out_c * ohw, d.relu_out, residual ? residual + at : nullptr, y + at);
    });
  }

  // dx_residual (laid out as x, or null) is added to dx where it is written; with d.relu_in, dx is first masked by
  // relu'(x).
  template <class T>
  static void backward(const cpu_detail::conv2d_plan& d, const T* x, const T* w, const T* dy, T* dx, T* dw, T* dbias,
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
        cpu_detail::finish_input_grad_images(in_img, b0, nb, d.relu_in, x, dx_residual, dx);
      }
    });
    if (dw && l.dw) cpu_detail::reduce_partials(partials, l.plan.tasks, l.dw, dw);
  }

 private:
  static void check_winograd(const cpu_detail::conv2d_plan& d) {
    check(cpu_detail::winograd_geometry_fits(d),
          "conv2d: the Winograd path needs a 3x3 stride-1 or 4x4 stride-2 kernel, padding 1, no dilation, groups 1 "
          "and at least 16 channels each side");
  }

  // The Winograd pass reads and writes channels-last images. NCHW sides go through whole-batch channels-last copies
  // after its own scratch: x (forward and the weight gradient), then y / dy, then dx, each only where that side is
  // NCHW. The output and the input gradient go back to NCHW chunk by chunk, in the task that wrote them.
  static std::int64_t nchw_copies_size(const cpu_detail::conv2d_plan& d) {
    const std::int64_t in = d.n * d.in_c * d.in_h * d.in_w, out = d.n * d.out_c * d.out_h * d.out_w;
    return (d.channels_last_in ? 0 : 2 * in) + (d.channels_last_out ? 0 : out);
  }
  template <class T>
  struct nchw_copies {
    T *x = nullptr, *y = nullptr, *dx = nullptr;  // null: that side is channels-last, read or written in place
    nchw_copies(const cpu_detail::conv2d_plan& d, T* scratch) {
      T* at = scratch + cpu_detail::winograd_scratch_size(d);
      const std::int64_t in = d.n * d.in_c * d.in_h * d.in_w, out = d.n * d.out_c * d.out_h * d.out_w;
      if (!d.channels_last_in) x = at, at += in;
      if (!d.channels_last_out) y = at, at += out;
      if (!d.channels_last_in) dx = at;
    }
  };
  // [n, c, p] → [n, p, c], images in parallel (the to_memory_format op's kernel).
  template <class T>
  static void to_channels_last(std::int64_t n, std::int64_t c, std::int64_t p, const T* src, T* dst) {
    kernel<to_memory_format_op, cpu>::convert(n, c, p, memory_format::channels_first, memory_format::channels_last,
                                              src, dst);
  }

  template <class T>
  static void forward_wg(const cpu_detail::conv2d_plan& d, const T* x, const T* w, const T* bias, T* y, T* scratch,
                         const T* residual = nullptr) {
    const nchw_copies<T> c(d, scratch);
    const std::int64_t ihw = d.in_h * d.in_w, ohw = d.out_h * d.out_w, out_img = d.out_c * ohw;
    T* xl = c.x;
    T* yl = c.y;
    if (xl) to_channels_last(d.n, d.in_c, ihw, x, xl);
    cpu_detail::winograd_io<T> io;
    io.in = xl ? xl : x, io.w = w, io.bias = bias, io.relu_out = d.relu_out, io.out = yl ? yl : y;
    io.residual = yl ? nullptr : residual;  // an NCHW residual is added after the copy back
    cpu_detail::winograd_pass(d, io, scratch, [&](std::int64_t b0, std::int64_t nb) {
      if (!yl) return;
      T* yb = y + b0 * out_img;
      cpu_detail::nhwc_to_nchw<T>(nb, d.out_c, ohw, yl + b0 * out_img, nullptr, yb);
      if (residual) cpu_detail::add_residual(nb * out_img, residual + b0 * out_img, yb);
    });
  }
  // dx is masked by relu'(x) (d.relu_in) and added to dx_residual where it is written, as backward_cl.
  template <class T>
  static void backward_wg(const cpu_detail::conv2d_plan& d, const T* x, const T* w, const T* dy, T* dx, T* dw, T* dbias,
                          T* scratch, const T* dx_residual) {
    if (dbias) cpu_detail::add_bias_grad(d.n, d.out_c, d.out_h * d.out_w, dy, d.channels_last_out, dbias);
    if (!dw && !dx) return;
    const nchw_copies<T> c(d, scratch);
    const std::int64_t ihw = d.in_h * d.in_w, ohw = d.out_h * d.out_w, in_img = d.in_c * ihw;
    T* xl = c.x;
    T* dyl = c.y;
    T* dxl = c.dx;
    if (xl && dw) to_channels_last(d.n, d.in_c, ihw, x, xl);
    if (dyl) to_channels_last(d.n, d.out_c, ohw, dy, dyl);
    cpu_detail::winograd_io<T> io;
    io.in = xl ? xl : x, io.w = w, io.dy = dyl ? dyl : dy, io.dw = dw;
    io.din = dx ? (dxl ? dxl : dx) : nullptr;
    cpu_detail::winograd_pass(d, io, scratch, {}, [&](std::int64_t b0, std::int64_t nb) {
      if (dxl) cpu_detail::nhwc_to_nchw<T>(nb, d.in_c, ihw, dxl + b0 * in_img, nullptr, dx + b0 * in_img);
      cpu_detail::finish_input_grad_images(in_img, b0, nb, d.relu_in, x, dx_residual, dx);
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
  static bool input_in_place(const cpu_detail::conv2d_plan& d) { return d.channels_last_in || d.in_c == 1; }
  static bool output_in_place(const cpu_detail::conv2d_plan& d) { return d.channels_last_out || d.out_c == 1; }

  template <class T>
  static void forward_cl(const cpu_detail::conv2d_plan& d, const T* x, const T* w, const T* bias, T* y, T* scratch,
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
  static void backward_cl(const cpu_detail::conv2d_plan& d, const T* x, const T* w, const T* dy, T* dx, T* dw, T* dbias,
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
        cpu_detail::finish_input_grad_images(d.in_c * ihw, b0, nb, d.relu_in, x, dx_residual, dx);
      }
    });
    if (dw) cpu_detail::add_weight_from_channels_last(d.out_c, d.in_c, kk, partials, l.plan.tasks, dw);
  }
};

}  // namespace vae
