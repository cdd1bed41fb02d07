// cpu kernel of the softmax op: one task per row; max-shifted exponentials, sums accumulated in double.
#pragma once
#include <cmath>
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/ops/softmax.hpp"

namespace vae {

template <>
struct kernel<softmax_op, cpu> {
  template <class T>
  static void softmax_forward(const softmax_dims& d, const T* x, T* y) {
    parallel_for(d.rows, d.rows * d.cols * 16, [&](std::int64_t r) {
      const T* xs = x + r * d.cols;
      T* ys = y + r * d.cols;
      const T m = row_max(xs, d.cols);
      double s = 0;
      for (std::int64_t j = 0; j < d.cols; ++j) {
        ys[j] = std::exp(xs[j] - m);
        s += static_cast<double>(ys[j]);
      }
      const T inv = static_cast<T>(1.0 / s);
      for (std::int64_t j = 0; j < d.cols; ++j) ys[j] *= inv;
    });
  }

  template <class T>
  static void softmax_backward(const softmax_dims& d, const T* y, const T* dy, T* dx) {
    parallel_for(d.rows, d.rows * d.cols * 4, [&](std::int64_t r) {
      const T* ys = y + r * d.cols;
      const T* gs = dy + r * d.cols;
      T* dxs = dx + r * d.cols;
      double s = 0;
      for (std::int64_t j = 0; j < d.cols; ++j) s += static_cast<double>(gs[j]) * static_cast<double>(ys[j]);
      const T st = static_cast<T>(s);
      for (std::int64_t j = 0; j < d.cols; ++j) dxs[j] = ys[j] * (gs[j] - st);
    });
  }

  template <class T>
  static void log_softmax_forward(const softmax_dims& d, const T* x, T* y) {
    parallel_for(d.rows, d.rows * d.cols * 16, [&](std::int64_t r) {
      const T* xs = x + r * d.cols;
      T* ys = y + r * d.cols;
      const T m = row_max(xs, d.cols);
      double s = 0;
      for (std::int64_t j = 0; j < d.cols; ++j) s += static_cast<double>(std::exp(xs[j] - m));
      // (x − max) first: exact for the entries near the max, where x − (max + log s) would round at max's scale.
      const T log_s = static_cast<T>(std::log(s));
      for (std::int64_t j = 0; j < d.cols; ++j) ys[j] = (xs[j] - m) - log_s;
    });
  }

  template <class T>
  static void log_softmax_backward(const softmax_dims& d, const T* y, const T* dy, T* dx) {
    parallel_for(d.rows, d.rows * d.cols * 16, [&](std::int64_t r) {
      const T* ys = y + r * d.cols;
      const T* gs = dy + r * d.cols;
      T* dxs = dx + r * d.cols;
      double s = 0;
      for (std::int64_t j = 0; j < d.cols; ++j) s += static_cast<double>(gs[j]);
      const T st = static_cast<T>(s);
      for (std::int64_t j = 0; j < d.cols; ++j) dxs[j] = gs[j] - std::exp(ys[j]) * st;
    });
  }

 private:
  template <class T>
  static T row_max(const T* x, std::int64_t n) {
    T m = x[0];
    for (std::int64_t j = 1; j < n; ++j) m = x[j] > m ? x[j] : m;
    return m;
  }
};

}  // namespace vae
