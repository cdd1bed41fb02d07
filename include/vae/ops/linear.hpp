// Linear op: y = x·Wᵀ + b over rows, with its backward (dx = dy·W, dW += dyᵀ·x, db += Σ dy).
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"

namespace vae {

struct linear_op {};

// Sizes of one linear call: `rows` input rows of `in` features mapped to `out` features.
struct linear_dims {
  std::int64_t rows, in, out;
};

namespace ops {
// y[rows,out] = x[rows,in] · w[out,in]ᵀ + bias[out] (bias may be null). PyTorch's layout for w.
template <class B, class T>
void linear_forward(const linear_dims& d, const T* x, const T* w, const T* bias, T* y) {
  kernel<linear_op, B>::forward(d, x, w, bias, y);
}
// y = max(x·wᵀ + bias, 0) in one pass (the cpu kernel's GEMM epilogue; cuda's bias kernel).
template <class B, class T>
void linear_relu_forward(const linear_dims& d, const T* x, const T* w, const T* bias, T* y) {
  kernel<linear_op, B>::forward_relu(d, x, w, bias, y);
}
// y = x·wᵀ + bias (then max(·, 0) when relu) from w's inference panels (a frozen host store's, float with the
// AVX-512 kernel: parameter_store::freeze_for_inference, backend/cpu/weight_panels.hpp).
template <class B, class T>
  requires HostBackend<B>
void linear_forward_from_panels(const linear_dims& d, const T* x, const T* panels, const T* bias, T* y, bool relu) {
  kernel<linear_op, B>::forward_from_panels(d, x, panels, bias, y, relu);
}
// dx = dy·w (skipped when dx is null), dw += dyᵀ·x, dbias += column sums of dy (skipped when null).
template <class B, class T>
void linear_backward(const linear_dims& d, const T* x, const T* w, const T* dy, T* dx, T* dw, T* dbias) {
  kernel<linear_op, B>::backward(d, x, w, dy, dx, dw, dbias);
}
// linear_backward, but dw and dbias are each OVERWRITTEN (dw = dyᵀ·x, dbias = Σ dy) where their flag says so (a
// gradient the store left unset, see parameter::take_unset_grad).
template <class B, class T>
void linear_backward_writing(const linear_dims& d, const T* x, const T* w, const T* dy, T* dx, T* dw, T* dbias,
                             bool overwrite_dw, bool overwrite_dbias) {
  kernel<linear_op, B>::backward(d, x, w, dy, dx, dw, dbias, overwrite_dw, overwrite_dbias);
}
}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/linear.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/linear.cuh"
#endif
