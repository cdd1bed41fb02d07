// ConvTranspose2d op (PyTorch F.conv_transpose2d): the adjoint of conv2d, with the same fused epilogues and formats.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/core/error.hpp"
#include "vae/core/memory_format.hpp"
#include "vae/ops/conv_fusion.hpp"
#include "vae/ops/conv_transpose2d_dims.hpp"

namespace vae {

struct conv_transpose2d_op {};

namespace ops {
// Elements of the scratch buffer the backend's kernels need for this call (activations in format f).
template <class B>
std::int64_t conv_transpose2d_scratch_size(const conv_transpose2d_dims& d, memory_format f = memory_format::channels_first) {
  return kernel<conv_transpose2d_op, B>::scratch_size(d, f);
}
// y = conv_transpose2d(x, w) + bias (bias may be null) with `out`'s epilogue, as ops::conv2d_forward; `work` holds
// conv_transpose2d_scratch_size<B>(d, f) elements.
template <class B, class T>
void conv_transpose2d_forward(const conv_transpose2d_dims& d, const T* x, const T* w, const T* bias, T* y, T* work,
                              memory_format f = memory_format::channels_first, conv_output<T> out = {}) {
  check(!(out.relu && out.residual),
        "conv_transpose2d: a fused ReLU and a fused residual together are not supported");
  kernel<conv_transpose2d_op, B>::forward(d, x, w, bias, y, work, f, out);
}
// dx, dw +=, dbias += as ops::conv2d_backward (with `in`: dx masked by relu'(x), plus a residual).
template <class B, class T>
void conv_transpose2d_backward(const conv_transpose2d_dims& d, const T* x, const T* w, const T* dy, T* dx, T* dw,
                               T* dbias, T* work, memory_format f = memory_format::channels_first,
                               conv_input_grad<T> in = {}) {
  kernel<conv_transpose2d_op, B>::backward(d, x, w, dy, dx, dw, dbias, work, f, in);
}
}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/conv_transpose2d.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/conv_transpose2d.cuh"
#endif
