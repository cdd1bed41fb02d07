// Cases of ops/linear.hpp: y = x·wᵀ + bias and its backward, the fused ReLU epilogue and the backward that overwrites
// dw and dbias, on every backend.
#pragma once
#include "../case_support.hpp"
#include "vae/ops/linear.hpp"

namespace vae::op_cases {

// Relu: linear_relu_forward.
template <bool Relu>
struct linear_case {
  static constexpr const char* op = "linear_op";
  static constexpr const char* name = Relu ? "linear_relu" : "linear";
  static constexpr bool on_cuda = true;
  // float: cuBLAS against the cpu GEMM, sums of up to 19 products in another order.
  static constexpr op_case_checks checks{.parity_float = {1e-5, 1e-4}, .parity_double = {1e-12, 1e-11}};
  struct config {
    linear_dims d;
    bool bias;
  };
  static std::vector<config> configs() { return {{{5, 7, 3}, true}, {{1, 19, 6}, false}, {{4, 1, 1}, true}}; }
  static std::string describe(const config& c) {
    return cat(c.d.rows, " rows ", c.d.in, " -> ", c.d.out, c.bias ? " with bias" : "");
  }
  static op_signature signature(const config& c) {
    return {{{.name = "x", .numel = c.d.rows * c.d.in},
             {.name = "w", .numel = c.d.out * c.d.in, .grad_accumulates = true},
             {.name = "bias", .numel = c.bias ? c.d.out : 0, .grad_accumulates = true}},
            {{.name = "y", .numel = c.d.rows * c.d.out}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    const T* bias = c.bias ? io.in(2) : nullptr;
    if constexpr (Relu)
      ops::linear_relu_forward<B>(c.d, io.in(0), io.in(1), bias, io.out(0));
    else
      ops::linear_forward<B>(c.d, io.in(0), io.in(1), bias, io.out(0));
  }
  // The plain backward (dx written, dw and dbias added to): the relu form's gradients go through the seed masked by
  // y > 0 (done on the host: the form is cpu-only).
  template <class B, class T>
  static void backward(const config& c, op_buffers<T, B>& io) {
    const auto n = c.d.rows * c.d.out;
    std::vector<T> dy = download<B>(io.seed(0), n);
    if constexpr (Relu) {
      const std::vector<T> y = download<B>(io.out(0), n);
      for (std::int64_t i = 0; i < n; ++i) dy[i] = y[i] > T(0) ? dy[i] : T(0);
    }
    tensor<T, B> gdy(shape{n});
    upload<B>(gdy.data(), dy);
    ops::linear_backward<B>(c.d, io.in(0), io.in(1), gdy.data(), io.grad(0), io.grad(1), c.bias ? io.grad(2) : nullptr);
  }
};

// linear_backward_writing: dw and dbias overwritten, not added to.
struct linear_writing_case {
  static constexpr const char* op = "linear_op";
  static constexpr const char* name = "linear_backward_writing";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks = linear_case<false>::checks;
  using config = linear_case<false>::config;
  static std::vector<config> configs() { return linear_case<false>::configs(); }
  static std::string describe(const config& c) { return linear_case<false>::describe(c); }
  static op_signature signature(const config& c) {
    auto sig = linear_case<false>::signature(c);
    for (auto& s : sig.inputs) s.grad_accumulates = false;
    return sig;
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    linear_case<false>::forward<B>(c, io);
  }
  template <class B, class T>
  static void backward(const config& c, op_buffers<T, B>& io) {
    ops::linear_backward_writing<B>(c.d, io.in(0), io.in(1), io.seed(0), io.grad(0), io.grad(1),
                                    c.bias ? io.grad(2) : nullptr, true, true);
  }
};

}  // namespace vae::op_cases
