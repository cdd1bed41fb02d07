// Conv2d op (PyTorch F.conv2d): forward with an optional fused epilogue (ReLU or residual), backward (dx =, dW +=,
// db +=) with an optional ReLU-input mask and residual; activations channels-first or channels-last.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/core/error.hpp"
#include "vae/core/memory_format.hpp"
#include "vae/ops/conv2d_dims.hpp"
#include "vae/ops/conv_fusion.hpp"

namespace vae {

struct conv2d_op {};

namespace ops {
// The activation format backend B's convolutions compute in without transposing: a stack of convolutions keeps its
// activations in it between its ends (cpu: channels_last; cuda: channels_first).
template <class B>
constexpr memory_format conv_activation_format() {
  return kernel<conv2d_op, B>::activation_format;
}
// Elements of the scratch buffer the backend's kernels need for this call (activations in format f).
template <class B>
std::int64_t conv2d_scratch_size(const conv2d_dims& d, memory_format f = memory_format::channels_first) {
  return kernel<conv2d_op, B>::scratch_size(d, f);
}
// y = conv2d(x, w) + bias (bias may be null), with `out`'s epilogue (ReLU or + residual); x and y in format f;
// `scratch` holds conv2d_scratch_size<B>(d, f) elements.
template <class B, class T>
void conv2d_forward(const conv2d_dims& d, const T* x, const T* w, const T* bias, T* y, T* scratch,
                    memory_format f = memory_format::channels_first, conv_output<T> out = {}) {
  check(!(out.relu && out.residual), "conv2d: a fused ReLU and a fused residual together are not supported");
  kernel<conv2d_op, B>::forward(d, x, w, bias, y, scratch, f, out);
}
// dx = input gradient (skipped when dx is null; with `in`: masked by relu'(x), plus a residual), dw += weight gradient
// (skipped when null), dbias += Σ dy over N, H, W (skipped when null). x is the forward input; x, dy and dx in format
// f; `scratch` holds conv2d_scratch_size<B>(d, f) elements.
template <class B, class T>
void conv2d_backward(const conv2d_dims& d, const T* x, const T* w, const T* dy, T* dx, T* dw, T* dbias, T* scratch,
                     memory_format f = memory_format::channels_first, conv_input_grad<T> in = {}) {
  kernel<conv2d_op, B>::backward(d, x, w, dy, dx, dw, dbias, scratch, f, in);
}
}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/conv2d.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/conv2d.cuh"
#endif
