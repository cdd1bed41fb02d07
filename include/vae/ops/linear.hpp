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
// y = max(x·wᵀ + bias, 0) in one pass (host backends: the cpu kernel's epilogue).
template <class B, class T>
void linear_relu_forward(const linear_dims& d, const T* x, const T* w, const T* bias, T* y) {
  kernel<linear_op, B>::forward_relu(d, x, w, bias, y);
}
// dx = dy·w (skipped when dx is null), dw += dyᵀ·x, dbias += column sums of dy (skipped when null).
template <class B, class T>
void linear_backward(const linear_dims& d, const T* x, const T* w, const T* dy, T* dx, T* dw, T* dbias) {
  kernel<linear_op, B>::backward(d, x, w, dy, dx, dw, dbias);
}
}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/linear.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/linear.cuh"
#endif
