// Cases of ops/activations.hpp: every activation policy, forward and backward.
#pragma once
#include <type_traits>

#include "../case_support.hpp"
#include "vae/ops/activations.hpp"

namespace vae::op_cases {

template <class Act>
struct activation_case {
  static constexpr const char* op = "activation_op";
  static constexpr const char* name = Act::name;
  static constexpr bool on_cuda = true;
  // Identity and ReLU only copy or zero: exact. The others: the device's exp/tanh/erf within a few float ulps.
  static constexpr bool copies = std::is_same_v<Act, activation::Identity> || std::is_same_v<Act, activation::ReLU>;
  static constexpr op_case_checks checks{
      .exact = copies, .parity_float = {1e-6, 1e-5}, .parity_double = {1e-13, 1e-13}};
  struct config {
    std::int64_t n;
    double scale;
  };
  // Scale 8 reaches the saturating tails of sigmoid/tanh/GELU.
  static std::vector<config> configs() { return {{37, 2.0}, {6, 1.0}, {301, 8.0}}; }
  static std::string describe(const config& c) { return cat(c.n, " values of scale ", c.scale); }
  static op_signature signature(const config& c) {
    return {{{.name = "x", .numel = c.n, .scale = c.scale}}, {{.name = "y", .numel = c.n}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    ops::activation_forward<B>(Act{}, c.n, io.in(0), io.out(0));
  }
  template <class B, class T>
  static void backward(const config& c, op_buffers<T, B>& io) {
    ops::activation_backward<B>(Act{}, c.n, io.in(0), io.out(0), io.seed(0), io.grad(0));
  }
};

}  // namespace vae::op_cases
