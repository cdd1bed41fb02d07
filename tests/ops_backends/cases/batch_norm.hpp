// Cases of ops/batch_norm.hpp: training mode (batch statistics, running statistics updated in place), eval mode
// (running statistics), and the training path split at its channel sums (SyncBatchNorm's four calls, with the
// reductions staged to the host as the layer does between processes).
#pragma once
#include "../case_support.hpp"
#include "vae/ops/batch_norm.hpp"

namespace vae::op_cases {

struct batch_norm_config {
  batch_norm_dims d;
  bool affine;
};
inline std::string describe_batch_norm(const batch_norm_config& c) {
  return cat(c.d.batch, "x", c.d.channels, "x", c.d.spatial, c.affine ? " affine" : "");
}
inline std::vector<batch_norm_config> batch_norm_configs() { return {{{3, 4, 5}, true}, {{2, 3, 1}, false}}; }
// x (shifted by 1: the mean is not 0), weight, bias, running mean and variance; y and the saved statistics.
inline op_signature batch_norm_signature(const batch_norm_config& c) {
  const auto n = c.d.batch * c.d.channels * c.d.spatial, ch = c.affine ? c.d.channels : 0;
  return {{{.name = "x", .numel = n, .how = fill::positive, .scale = 4},
           {.name = "weight", .numel = ch, .grad_accumulates = true},
           {.name = "bias", .numel = ch, .grad_accumulates = true},
           {.name = "running_mean", .numel = c.d.channels, .differentiable = false},
           {.name = "running_var", .numel = c.d.channels, .how = fill::positive, .differentiable = false}},
          {{.name = "y", .numel = n},
           {.name = "mean", .numel = c.d.channels, .differentiable = false},
           {.name = "rstd", .numel = c.d.channels, .differentiable = false}}};
}
// Same arithmetic on both backends (statistics in double, applied in T); float: FMA contraction, ≤ 1–2 ulps.
inline constexpr op_case_checks batch_norm_checks{.parity_float = {1e-5, 1e-4}, .parity_double = {1e-12, 1e-12}};

template <bool Training>
struct batch_norm_case {
  static constexpr const char* op = "batch_norm_op";
  static constexpr const char* name = Training ? "batch_norm_train" : "batch_norm_eval";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks = batch_norm_checks;
  using config = batch_norm_config;
  static std::vector<config> configs() { return batch_norm_configs(); }
  static std::string describe(const config& c) { return describe_batch_norm(c); }
  static op_signature signature(const config& c) { return batch_norm_signature(c); }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    T* w = c.affine ? io.in(1) : nullptr;
    T* b = c.affine ? io.in(2) : nullptr;
    if constexpr (Training)
      ops::batch_norm_forward_train<B>(c.d, 1e-5, 0.1, io.in(0), w, b, io.out(0), io.out(1), io.out(2), io.in(3),
                                       io.in(4));
    else
      ops::batch_norm_forward_eval<B>(c.d, 1e-5, io.in(0), w, b, io.in(3), io.in(4), io.out(0), io.out(1), io.out(2));
  }
  template <class B, class T>
  static void backward(const config& c, op_buffers<T, B>& io) {
    ops::batch_norm_backward<B>(c.d, Training, io.in(0), c.affine ? io.in(1) : nullptr, io.out(1), io.out(2),
                                io.seed(0), io.grad(0), c.affine ? io.grad(1) : nullptr,
                                c.affine ? io.grad(2) : nullptr);
  }
};

// The split training path: channel_sums (Σx, then Σ(x − mean)²), forward_with_stats; backward_reduce, then
// backward_elemt with the means of the sums. The running statistics are the layer's business here (left alone).
struct batch_norm_split_case {
  static constexpr const char* op = "batch_norm_op";
  static constexpr const char* name = "batch_norm_split";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks = batch_norm_checks;
  using config = batch_norm_config;
  static std::vector<config> configs() { return batch_norm_configs(); }
  static std::string describe(const config& c) { return describe_batch_norm(c); }
  static op_signature signature(const config& c) { return batch_norm_signature(c); }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    const auto ch = c.d.channels;
    const double count = static_cast<double>(c.d.batch * c.d.spatial);
    tensor<double, B> sum(shape{ch}), sq(shape{ch}), mean(shape{ch}), var(shape{ch});
    ops::batch_norm_channel_sums<B>(c.d, io.in(0), static_cast<const double*>(nullptr), sum.data(),
                                    static_cast<double*>(nullptr));
    auto m = download<B>(sum.data(), ch);
    for (auto& v : m) v /= count;
    upload<B>(mean.data(), m);
    ops::batch_norm_channel_sums<B>(c.d, io.in(0), mean.data(), static_cast<double*>(nullptr), sq.data());
    auto s = download<B>(sq.data(), ch);
    for (auto& v : s) v /= count;
    upload<B>(var.data(), s);
    ops::batch_norm_forward_with_stats<B>(c.d, 1e-5, io.in(0), c.affine ? io.in(1) : nullptr,
                                          c.affine ? io.in(2) : nullptr, mean.data(), var.data(), io.out(0), io.out(1),
                                          io.out(2));
  }
  template <class B, class T>
  static void backward(const config& c, op_buffers<T, B>& io) {
    const auto ch = c.d.channels;
    const double count = static_cast<double>(c.d.batch * c.d.spatial);
    tensor<double, B> sum_dy(shape{ch}), sum_dy_xhat(shape{ch});
    ops::batch_norm_backward_reduce<B>(c.d, io.in(0), io.out(1), io.out(2), io.seed(0), sum_dy.data(),
                                       sum_dy_xhat.data(), c.affine ? io.grad(1) : nullptr,
                                       c.affine ? io.grad(2) : nullptr);
    auto a = download<B>(sum_dy.data(), ch), b = download<B>(sum_dy_xhat.data(), ch);
    for (auto& v : a) v /= count;
    for (auto& v : b) v /= count;
    upload<B>(sum_dy.data(), a);
    upload<B>(sum_dy_xhat.data(), b);
    ops::batch_norm_backward_elemt<B>(c.d, io.in(0), c.affine ? io.in(1) : nullptr, io.out(1), io.out(2), io.seed(0),
                                      sum_dy.data(), sum_dy_xhat.data(), io.grad(0));
  }
};

}  // namespace vae::op_cases
