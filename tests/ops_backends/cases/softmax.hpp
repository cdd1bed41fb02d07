// Cases of ops/softmax.hpp: softmax and log-softmax over the last dimension, forward and backward.
#pragma once
#include "../case_support.hpp"
#include "vae/ops/softmax.hpp"

namespace vae::op_cases {

template <bool Log>
struct softmax_case {
  static constexpr const char* op = "softmax_op";
  static constexpr const char* name = Log ? "log_softmax" : "softmax";
  static constexpr bool on_cuda = true;
  // float: the device's expf/logf are within 2 ulps of glibc's and the sums are in double; log-softmax values reach
  // ~−20 here (a float ulp of 20 is 2e-6).
  static constexpr op_case_checks checks{.parity_float = {Log ? 1e-5 : 1e-6, 1e-5}, .parity_double = {1e-13, 1e-13}};
  using config = softmax_dims;
  static std::vector<config> configs() { return {{5, 7}, {3, 2}, {2, 300}}; }
  static std::string describe(const config& d) { return cat(d.rows, " rows of ", d.cols); }
  static op_signature signature(const config& d) {
    return {{{.name = "x", .numel = d.rows * d.cols, .scale = 3}}, {{.name = "y", .numel = d.rows * d.cols}}};
  }
  template <class B, class T>
  static void forward(const config& d, op_buffers<T, B>& io) {
    if constexpr (Log)
      ops::log_softmax_forward<B>(d, io.in(0), io.out(0));
    else
      ops::softmax_forward<B>(d, io.in(0), io.out(0));
  }
  template <class B, class T>
  static void backward(const config& d, op_buffers<T, B>& io) {
    if constexpr (Log)
      ops::log_softmax_backward<B>(d, io.out(0), io.seed(0), io.grad(0));
    else
      ops::softmax_backward<B>(d, io.out(0), io.seed(0), io.grad(0));
  }
};

}  // namespace vae::op_cases
