// The Winograd path of the conv cpu kernels: which convolutions it takes, its scratch plan and its chunked pass.
#pragma once
#include <algorithm>
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/conv2d_channels_last.hpp"
#include "vae/backend/cpu/conv2d_chunk_plan.hpp"
#include "vae/backend/cpu/conv_plan.hpp"
#include "vae/backend/cpu/gemm.hpp"
#include "vae/backend/cpu/winograd.hpp"
#include "vae/ops/conv2d_dims.hpp"

namespace vae {

namespace cpu_detail {

// Whether conv2d d has a geometry the Winograd transforms compute: 3×3 stride 1 or 4×4 stride 2, padding 1, no
// dilation, groups 1, at least channels_last_min channels each side, and d.winograd (off only in tests that compare
// with the direct product). A 3×3 kernel does 16 instead of 36 multiplies per 2×2 outputs and channel pair
// (F(2×2, 3×3): 2.25× fewer; 1.7× on a 7×7 image, whose last tile row and column are half outside), a 4×4 stride-2
// one 36 instead of 64 (F(2×2, 2×2) over its four tap parities: 1.8×; 1.4× on a 7×7 output). The values agree with
// the direct convolution to float rounding, not bit for bit.
inline bool winograd_geometry_fits(const conv2d_plan& d) {
  const bool same3 = d.k_h == 3 && d.k_w == 3 && d.stride_h == 1 && d.stride_w == 1;
  const bool down4 = d.k_h == 4 && d.k_w == 4 && d.stride_h == 2 && d.stride_w == 2;
  return d.winograd && (same3 || down4) && d.pad_h == 1 && d.pad_w == 1 && d.dil_h == 1 && d.dil_w == 1 &&
         d.groups == 1 && d.in_c >= channels_last_min && d.out_c >= channels_last_min;
}
// The same with channels-last input and output, which the pass reads and writes in place (conv2d also brings NCHW
// activations to it through channels-last copies; conv_transpose2d does not).
inline bool winograd_fits(const conv2d_plan& d) {
  return winograd_geometry_fits(d) && d.channels_last_in && d.channels_last_out;
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
}  // namespace vae
