// Cases of ops/feature_distance.hpp: LPIPS's per-position distance of unit-normalised features (weighted by channel
// or the channel mean), and its gradient in the second features.
#pragma once
#include "../case_support.hpp"
#include "vae/ops/feature_distance.hpp"

namespace vae::op_cases {

struct feature_distance_case {
  static constexpr const char* op = "feature_distance_op";
  static constexpr const char* name = "feature_distance";
  static constexpr bool on_cuda = true;
  // The same arithmetic per position in the same channel order; the device may fuse multiply-adds: a few ulps.
  static constexpr op_case_checks checks{.parity_float = {1e-6, 1e-5}, .parity_double = {1e-14, 1e-12}};
  struct config {
    feature_distance_dims d;
    bool weighted;
  };
  static std::vector<config> configs() { return {{{2, 5, 7}, true}, {{1, 3, 1}, false}}; }
  static std::string describe(const config& c) {
    return cat(c.d.n, " images of ", c.d.c, " channels x ", c.d.hw, c.weighted ? " weighted" : " channel mean");
  }
  // f0 is the reference features (no gradient: the op gives none), the distance's gradient is 1 everywhere (the
  // kernel returns the gradient of scale·Σ dist).
  static op_signature signature(const config& c) {
    const auto n = c.d.n * c.d.c * c.d.hw;
    return {{{.name = "f0", .numel = n, .differentiable = false},
             {.name = "f1", .numel = n},
             {.name = "w", .numel = c.weighted ? c.d.c : 0, .how = fill::positive, .differentiable = false}},
            {{.name = "dist", .numel = c.d.n * c.d.hw, .seed_one = true}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    ops::feature_distance<B>(c.d, io.in(0), io.in(1), c.weighted ? io.in(2) : nullptr, io.out(0),
                             static_cast<T*>(nullptr), 1.0);
  }
  template <class B, class T>
  static void backward(const config& c, op_buffers<T, B>& io) {
    tensor<T, B> dist(shape{c.d.n * c.d.hw});
    ops::feature_distance<B>(c.d, io.in(0), io.in(1), c.weighted ? io.in(2) : nullptr, dist.data(), io.grad(1), 1.0);
  }
};

}  // namespace vae::op_cases
