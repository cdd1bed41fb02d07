// Cases of ops/to_memory_format.hpp: [n, c, p] → [n, p, c] and back (exact moves); the backward is the other way.
#pragma once
#include "../case_support.hpp"
#include "vae/ops/to_memory_format.hpp"

namespace vae::op_cases {

struct to_memory_format_case {
  static constexpr const char* op = "to_memory_format_op";
  static constexpr const char* name = "to_memory_format";
  static constexpr bool on_cuda = true;
  // Values only move.
  static constexpr op_case_checks checks{.exact = true};
  struct config {
    std::int64_t n, c, p;
    memory_format from, to;
  };
  static std::vector<config> configs() {
    constexpr auto first = memory_format::channels_first, last = memory_format::channels_last;
    return {{2, 5, 7, first, last}, {3, 16, 9, last, first}, {2, 3, 4, last, last}};
  }
  static std::string describe(const config& d) {
    auto name = [](memory_format f) { return f == memory_format::channels_last ? "channels_last" : "channels_first"; };
    return cat(d.n, "x", d.c, "x", d.p, " ", name(d.from), " -> ", name(d.to));
  }
  static op_signature signature(const config& d) {
    return {{{.name = "x", .numel = d.n * d.c * d.p}}, {{.name = "y", .numel = d.n * d.c * d.p}}};
  }
  template <class B, class T>
  static void forward(const config& d, op_buffers<T, B>& io) {
    ops::to_memory_format<B>(d.n, d.c, d.p, d.from, d.to, io.in(0), io.out(0));
  }
  template <class B, class T>
  static void backward(const config& d, op_buffers<T, B>& io) {
    ops::to_memory_format<B>(d.n, d.c, d.p, d.to, d.from, io.seed(0), io.grad(0));
  }
};

}  // namespace vae::op_cases
