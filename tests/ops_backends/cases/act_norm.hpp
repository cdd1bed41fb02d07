// Cases of ops/act_norm.hpp: the data-dependent initialisation (loc, scale from the batch, flag set) and
// y = scale·(x + loc) with its backward.
#pragma once
#include <cmath>

#include "../case_support.hpp"
#include "vae/ops/act_norm.hpp"

namespace vae::op_cases {

struct act_norm_case {
  static constexpr const char* op = "act_norm_op";
  static constexpr const char* name = "act_norm";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks{.parity_float = {1e-5, 1e-5}, .parity_double = {1e-12, 1e-12}};
  using config = act_norm_dims;
  static std::vector<config> configs() { return {{2, 3, 5}, {3, 1, 1}}; }
  static std::string describe(const config& d) { return cat(d.batch, "x", d.channels, "x", d.spatial); }
  static op_signature signature(const config& d) {
    const auto n = d.batch * d.channels * d.spatial;
    return {{{.name = "x", .numel = n, .scale = 2},
             {.name = "loc", .numel = d.channels, .grad_accumulates = true},
             {.name = "scale", .numel = d.channels, .how = fill::positive, .grad_accumulates = true}},
            {{.name = "y", .numel = n}}};
  }
  template <class B, class T>
  static void forward(const config& d, op_buffers<T, B>& io) {
    ops::act_norm_forward<B>(d, io.in(0), io.in(1), io.in(2), io.out(0));
  }
  template <class B, class T>
  static void backward(const config& d, op_buffers<T, B>& io) {
    ops::act_norm_backward<B>(d, io.in(0), io.in(1), io.in(2), io.seed(0), io.grad(0), io.grad(1), io.grad(2));
  }
};

// The initialisation: loc and scale written from the batch's statistics, the flag set to 1 (a second call with the
// flag set leaves them alone: the flag input starts at 0 here, the forward runs the call twice).
struct act_norm_initialize_case {
  static constexpr const char* op = "act_norm_op";
  static constexpr const char* name = "act_norm_initialize";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks{
      .reference = {1e-12, 1e-10}, .parity_float = {1e-5, 1e-5}, .parity_double = {1e-12, 1e-12}};
  using config = act_norm_dims;
  static std::vector<config> configs() { return {{2, 3, 5}, {3, 2, 1}}; }
  static std::string describe(const config& d) { return cat(d.batch, "x", d.channels, "x", d.spatial); }
  static op_signature signature(const config& d) {
    return {{{.name = "x", .numel = d.batch * d.channels * d.spatial, .scale = 2}},
            {{.name = "loc", .numel = d.channels},
             {.name = "scale", .numel = d.channels},
             {.name = "initialized", .numel = 1}}};
  }
  template <class B, class T>
  static void forward(const config& d, op_buffers<T, B>& io) {
    ops::act_norm_initialize<B>(d, io.in(0), io.out(0), io.out(1), io.out(2));
    ops::act_norm_initialize<B>(d, io.in(0), io.out(0), io.out(1), io.out(2));
  }
  static std::vector<std::vector<double>> reference(const config& d, const std::vector<std::vector<double>>& in) {
    std::vector<double> loc(d.channels), scale(d.channels);
    const double count = static_cast<double>(d.batch * d.spatial);
    for (std::int64_t c = 0; c < d.channels; ++c) {
      double s = 0, ss = 0;
      for (std::int64_t b = 0; b < d.batch; ++b)
        for (std::int64_t k = 0; k < d.spatial; ++k) s += in[0][(b * d.channels + c) * d.spatial + k];
      const double m = s / count;
      for (std::int64_t b = 0; b < d.batch; ++b)
        for (std::int64_t k = 0; k < d.spatial; ++k) {
          const double v = in[0][(b * d.channels + c) * d.spatial + k] - m;
          ss += v * v;
        }
      loc[c] = -m;
      scale[c] = 1.0 / (std::sqrt(ss / (count - 1)) + 1e-6);
    }
    return {loc, scale, {1.0}};
  }
};

}  // namespace vae::op_cases
