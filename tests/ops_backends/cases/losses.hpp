// Cases of ops/losses.hpp: every elementwise loss policy and cross-entropy (with an ignored class), each reduction;
// the op returns its value with its gradient, so the value's seed is 1.
#pragma once
#include <type_traits>

#include "../case_support.hpp"
#include "vae/ops/losses.hpp"

namespace vae::op_cases {

inline const char* reduction_name(loss_reduction r) {
  return r == loss_reduction::mean ? "mean" : r == loss_reduction::sum ? "sum" : "none";
}

template <class Loss>
struct elementwise_loss_case {
  static constexpr const char* op = "elementwise_loss_op";
  static constexpr const char* name = Loss::name;
  static constexpr bool on_cuda = true;
  // The value is a double sum on both backends (in another order on the device).
  static constexpr op_case_checks checks{.parity_float = {1e-6, 1e-6}, .parity_double = {1e-13, 1e-12}};
  struct config {
    std::int64_t n;
    loss_reduction r;
  };
  static std::vector<config> configs() {
    return {{37, loss_reduction::mean}, {5, loss_reduction::sum}, {9, loss_reduction::none}};
  }
  static std::string describe(const config& c) { return cat(c.n, " values, reduction ", reduction_name(c.r)); }
  static op_signature signature(const config& c) {
    constexpr bool probability = std::is_same_v<Loss, losses::BCEWithLogits>;
    return {{{.name = "x", .numel = c.n, .scale = 2},
             {.name = "target",
              .numel = c.n,
              .how = probability ? fill::probability : fill::normal,
              .differentiable = false}},
            {{.name = "value", .numel = 1, .type = element::wide, .seed_one = true},
             {.name = "per_element", .numel = c.r == loss_reduction::none ? c.n : 0, .differentiable = false}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    io.set_out_wide(0, ops::elementwise_loss<B>(Loss{}, c.n, io.in(0), io.in(1), c.r, static_cast<T*>(nullptr),
                                                c.r == loss_reduction::none ? io.out(1) : nullptr));
  }
  template <class B, class T>
  static void backward(const config& c, op_buffers<T, B>& io) {
    ops::elementwise_loss<B>(Loss{}, c.n, io.in(0), io.in(1), c.r, io.grad(0));
  }
};

// w·Σ loss with the factor folded into the gradient (weighted_elementwise_loss, w = 0.5/n: half a mean).
struct weighted_mse_case {
  static constexpr const char* op = "elementwise_loss_op";
  static constexpr const char* name = "weighted_mse_loss";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks = elementwise_loss_case<losses::MSE>::checks;
  struct config {
    std::int64_t n;
  };
  static std::vector<config> configs() { return {{23}, {1}}; }
  static std::string describe(const config& c) { return cat(c.n, " values, w = 0.5/n"); }
  static op_signature signature(const config& c) {
    return {{{.name = "x", .numel = c.n, .scale = 2}, {.name = "target", .numel = c.n, .differentiable = false}},
            {{.name = "value", .numel = 1, .type = element::wide, .seed_one = true}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    io.set_out_wide(0, ops::weighted_elementwise_loss<B>(losses::MSE{}, c.n, io.in(0), io.in(1), 0.5 / c.n,
                                                         static_cast<T*>(nullptr)));
  }
  template <class B, class T>
  static void backward(const config& c, op_buffers<T, B>& io) {
    ops::weighted_elementwise_loss<B>(losses::MSE{}, c.n, io.in(0), io.in(1), 0.5 / c.n, io.grad(0));
  }
};

// Targets in [0, classes); rows whose target is the ignored class contribute nothing.
struct cross_entropy_case {
  static constexpr const char* op = "cross_entropy_op";
  static constexpr const char* name = "cross_entropy";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks{.parity_float = {1e-6, 1e-6}, .parity_double = {1e-13, 1e-12}};
  struct config {
    std::int64_t rows, classes;
    loss_reduction r;
    std::int64_t ignore_index;
  };
  static std::vector<config> configs() {
    return {{7, 5, loss_reduction::mean, 2},
            {4, 2, loss_reduction::sum, default_ignore_index},
            {6, 3, loss_reduction::none, default_ignore_index}};
  }
  static std::string describe(const config& c) {
    return cat(c.rows, " rows of ", c.classes, " classes, reduction ", reduction_name(c.r), ", ignore ",
               c.ignore_index);
  }
  static op_signature signature(const config& c) {
    return {{{.name = "logits", .numel = c.rows * c.classes, .scale = 2},
             {.name = "target",
              .numel = c.rows,
              .type = element::index,
              .how = fill::index,
              .bound = c.classes,
              .differentiable = false}},
            {{.name = "value", .numel = 1, .type = element::wide, .seed_one = true},
             {.name = "per_element", .numel = c.r == loss_reduction::none ? c.rows : 0, .differentiable = false}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    io.set_out_wide(
        0, ops::cross_entropy_loss<B>(c.rows, c.classes, io.in(0), io.in_index(1), c.r, static_cast<T*>(nullptr),
                                      c.r == loss_reduction::none ? io.out(1) : nullptr, c.ignore_index));
  }
  template <class B, class T>
  static void backward(const config& c, op_buffers<T, B>& io) {
    ops::cross_entropy_loss<B>(c.rows, c.classes, io.in(0), io.in_index(1), c.r, io.grad(0), static_cast<T*>(nullptr),
                               c.ignore_index);
  }
};

}  // namespace vae::op_cases
