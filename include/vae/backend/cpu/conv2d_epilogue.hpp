// Per-chunk epilogues of the conv cpu kernels: bias, ReLU and residual on outputs and gradients, bias gradients.
#pragma once
#include <algorithm>
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/conv2d_im2col.hpp"

namespace vae {

namespace cpu_detail {

// out[r, ch] += bias[ch] for r < rows (channels-last rows), then ReLU when `relu` (serial: inside a chunk task).
// ReLU as activation::ReLU computes it: v > 0 ? v : 0 (NaN → 0).
template <class T>
void add_row_bias(std::int64_t rows, std::int64_t c, const T* bias, T* out, bool relu = false) {
  if (!bias && !relu) return;
  for (std::int64_t r = 0; r < rows; ++r) {
    T* o = out + r * c;
    if (bias && relu) {
      for (std::int64_t ch = 0; ch < c; ++ch) {
        const T v = o[ch] + bias[ch];
        o[ch] = v > T(0) ? v : T(0);
      }
    } else if (bias) {
      for (std::int64_t ch = 0; ch < c; ++ch) o[ch] += bias[ch];
    } else {
      for (std::int64_t ch = 0; ch < c; ++ch) o[ch] = o[ch] > T(0) ? o[ch] : T(0);
    }
  }
}
// out[i] = residual[i] + out[i] over n values (serial: inside a chunk task).
template <class T>
void add_residual(std::int64_t n, const T* residual, T* out) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = residual[i] + out[i];
}
// dx[i] = residual[i] + dx[i]·relu'(x[i]) over n values (relu' when `relu`, residual when not null; serial: inside a
// chunk task), bit for bit a ReLU layer's backward then the addition.
template <class T>
void finish_input_grad(std::int64_t n, bool relu, const T* x, const T* residual, T* dx) {
  if (relu && residual) {
    for (std::int64_t i = 0; i < n; ++i) dx[i] = residual[i] + dx[i] * (x[i] > T(0) ? T(1) : T(0));
  } else if (relu) {
    for (std::int64_t i = 0; i < n; ++i) dx[i] = dx[i] * (x[i] > T(0) ? T(1) : T(0));
  } else if (residual) {
    add_residual(n, residual, dx);
  }
}
// finish_input_grad on the images [b0, b0 + nb) of `img` values each (x, residual and dx point at image 0 of the batch;
// nothing to do without a mask or a residual): the input-gradient fusions of one chunk.
template <class T>
void finish_input_grad_images(std::int64_t img, std::int64_t b0, std::int64_t nb, bool relu, const T* x,
                              const T* residual, T* dx) {
  if (!relu && !residual) return;
  const std::int64_t at = b0 * img;
  finish_input_grad(nb * img, relu, x + at, residual ? residual + at : nullptr, dx + at);
}
// ReLU over n values in place (the outputs that are not written in place; serial: inside a chunk task).
template <class T>
void relu_in_place(std::int64_t n, T* v) {
  for (std::int64_t i = 0; i < n; ++i) v[i] = v[i] > T(0) ? v[i] : T(0);
}
// The output epilogues on n values of y already holding conv + bias: ReLU when `relu`, then + residual when not null
// (serial: inside a chunk task).
template <class T>
void finish_output(std::int64_t n, bool relu, const T* residual, T* y) {
  if (relu) relu_in_place(n, y);
  if (residual) add_residual(n, residual, y);
}
// dbias[ch] += Σ_r src[r, ch] over channels-last rows, each channel summed in row order — the (b, t) order of
// add_channel_sums, so both layouts give the same sums. Threads split the channels, not the rows.
template <class T>
void add_row_sums(std::int64_t rows, std::int64_t c, const T* src, T* dbias) {
  constexpr std::int64_t block = 16;
  parallel_for((c + block - 1) / block, rows * c, [&](std::int64_t blk) {
    const std::int64_t c0 = blk * block, width = std::min(block, c - c0);
    T s[block] = {};
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* v = src + r * c + c0;
      for (std::int64_t k = 0; k < width; ++k) s[k] += v[k];
    }
    for (std::int64_t k = 0; k < width; ++k) dbias[c0 + k] += s[k];
  });
}

// dbias[ch] += Σ of dy [n, c, p] over n and p, read channels-last ([n, p, c]) or NCHW; the same sums either way.
template <class T>
void add_bias_grad(std::int64_t n, std::int64_t c, std::int64_t p, const T* dy, bool channels_last, T* dbias) {
  if (channels_last)
    add_row_sums(n * p, c, dy, dbias);
  else
    add_channel_sums(n, c, p, dy, dbias);
}
}  // namespace cpu_detail
}  // namespace vae
