// Softmax and log-softmax over the last dimension (max-shifted, stable), with their backward.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/core/tensor.hpp"

namespace vae {

struct softmax_op {};

// Sizes of one softmax call: `rows` independent rows of `cols` values (x [..., cols]).
struct softmax_dims {
  std::int64_t rows, cols;
};

namespace detail {
// A tensor [..., D] as rows of D values.
inline softmax_dims softmax_rows(const shape& s) {
  const std::int64_t cols = s[s.rank() - 1];
  return {cols > 0 ? s.numel() / cols : 0, cols};
}
}  // namespace detail

namespace ops {
// y = exp(x − max) / Σ exp(x − max) per row. y may alias x.
template <class B, class T>
void softmax_forward(const softmax_dims& d, const T* x, T* y) {
  kernel<softmax_op, B>::softmax_forward(d, x, y);
}
// dx = y ⊙ (dy − Σ dy·y) per row, from the softmax OUTPUT y (WRITES dx). dx may alias dy.
template <class B, class T>
void softmax_backward(const softmax_dims& d, const T* y, const T* dy, T* dx) {
  kernel<softmax_op, B>::softmax_backward(d, y, dy, dx);
}
// y = x − max − log Σ exp(x − max) per row. y may alias x.
template <class B, class T>
void log_softmax_forward(const softmax_dims& d, const T* x, T* y) {
  kernel<softmax_op, B>::log_softmax_forward(d, x, y);
}
// dx = dy − exp(y)·Σ dy per row, from the log-softmax OUTPUT y (WRITES dx). dx may alias dy.
template <class B, class T>
void log_softmax_backward(const softmax_dims& d, const T* y, const T* dy, T* dx) {
  kernel<softmax_op, B>::log_softmax_backward(d, y, dy, dx);
}

// Tensor forms over the last dimension: resize the output to the input's shape and check shapes.
template <class T, class B>
void softmax(const tensor<T, B>& x, tensor<T, B>& y) {
  check(x.rank() >= 1 && x.numel() > 0,
        [&] { return cat("softmax: expected a non-empty input [..., D], got ", x.shape()); });
  y.resize(x.shape());
  softmax_forward<B>(vae::detail::softmax_rows(x.shape()), x.data(), y.data());
}
template <class T, class B>
void softmax_backward(const tensor<T, B>& y, const tensor<T, B>& dy, tensor<T, B>& dx) {
  check_shape(dy.shape(), y.shape(), "softmax_backward: dy");
  dx.resize(y.shape());
  softmax_backward<B>(vae::detail::softmax_rows(y.shape()), y.data(), dy.data(), dx.data());
}
template <class T, class B>
void log_softmax(const tensor<T, B>& x, tensor<T, B>& y) {
  check(x.rank() >= 1 && x.numel() > 0,
        [&] { return cat("log_softmax: expected a non-empty input [..., D], got ", x.shape()); });
  y.resize(x.shape());
  log_softmax_forward<B>(vae::detail::softmax_rows(x.shape()), x.data(), y.data());
}
template <class T, class B>
void log_softmax_backward(const tensor<T, B>& y, const tensor<T, B>& dy, tensor<T, B>& dx) {
  check_shape(dy.shape(), y.shape(), "log_softmax_backward: dy");
  dx.resize(y.shape());
  log_softmax_backward<B>(vae::detail::softmax_rows(y.shape()), y.data(), dy.data(), dx.data());
}
}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/softmax.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/softmax.cuh"
#endif
