// The conv epilogues on the device (ops/conv_fusion.hpp), applied after the product: ReLU or + residual on the
// output, relu'(x) mask and + residual on the input gradient. Shared by the conv2d and conv_transpose2d kernels.
#pragma once
#include <cstdint>

#include "vae/backend/cuda.hpp"
#include "vae/core/error.hpp"
#include "vae/core/memory_format.hpp"
#include "vae/ops/conv_fusion.hpp"

namespace vae {

namespace cuda_detail {

// Thread i < n: y[i] = relu(y[i]) (relu), then residual[i] + y[i] (residual not null); as the cpu kernels and the
// separate layers compute them (v > 0 ? v : 0, residual first in the sum).
template <class T>
__global__ void conv_output_kernel(std::int64_t n, bool relu, const T* residual, T* y) {
  const std::int64_t i = thread_index();
  if (i >= n) return;
  T v = y[i];
  if (relu) v = v > T(0) ? v : T(0);
  if (residual) v = residual[i] + v;
  y[i] = v;
}
// Thread i < n: dx[i] = residual[i] + dx[i]·relu'(x[i]) (mask when relu_input, residual when not null).
template <class T>
__global__ void conv_input_grad_kernel(std::int64_t n, bool relu_input, const T* x, const T* residual, T* dx) {
  const std::int64_t i = thread_index();
  if (i >= n) return;
  T v = dx[i];
  if (relu_input) v = v * (x[i] > T(0) ? T(1) : T(0));
  if (residual) v = residual[i] + v;
  dx[i] = v;
}

// The device conv kernels read and write NCHW: channels-last activations are a host layout.
inline void require_channels_first(const char* op, memory_format f) {
  check(f == memory_format::channels_first, [&] {
    return cat(op, " (cuda): channels-last activations have no device kernel; keep the device activations channels_first");
  });
}
// out's epilogue on the n values of y (nothing to do without one).
template <class T>
void apply_conv_output(std::int64_t n, const conv_output<T>& out, T* y) {
  if (n == 0 || (!out.relu && !out.residual)) return;
  conv_output_kernel<T><<<blocks_for(n), threads_per_block, 0, stream()>>>(n, out.relu, out.residual, y);
  check_launch("vae::cuda conv output epilogue");
}
// in's fusions on the n values of dx (x the forward input; nothing to do without one, or without dx).
template <class T>
void apply_conv_input_grad(std::int64_t n, const conv_input_grad<T>& in, const T* x, T* dx) {
  if (n == 0 || !dx || (!in.relu_input && !in.residual)) return;
  conv_input_grad_kernel<T><<<blocks_for(n), threads_per_block, 0, stream()>>>(n, in.relu_input, x, in.residual, dx);
  check_launch("vae::cuda conv input-gradient epilogue");
}

}  // namespace cuda_detail
}  // namespace vae
