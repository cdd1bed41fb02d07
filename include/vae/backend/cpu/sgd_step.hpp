// cpu kernel of the SGD step op: chunks over the OpenMP pool, one branch-free loop per flag combination.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/ops/sgd_step.hpp"
#include "vae/train/optimizer.hpp"

namespace vae {

namespace detail {

// PyTorch's formula (torch/optim/sgd.py), per element:
//   g ← g + wd·p
//   b ← g (first step) | μ·b + (1 − dampening)·g        g ← g + μ·b (Nesterov) | b      (only when μ ≠ 0)
//   p ← p − lr·g
// The flags are template arguments so each variant is a branch-free, vectorisable loop.
template <bool Momentum, bool First, bool Nesterov, class T>
void sgd_update_host(const sgd_step_args<T>& a) {
  const T keep = a.one_minus_dampening;
  for_chunks(a.n, 8, [&](std::int64_t begin, std::int64_t end) {
    T* p = a.param;
    const T* g = a.grad;
    T* buf = a.momentum_buffer;
#pragma omp simd
    for (std::int64_t i = begin; i < end; ++i) {
      T gi = g[i] + a.weight_decay * p[i];
      if constexpr (Momentum) {
        T bi;
        if constexpr (First) bi = gi;
        else bi = a.momentum * buf[i] + keep * gi;
        buf[i] = bi;
        if constexpr (Nesterov) gi = gi + a.momentum * bi;
        else gi = bi;
      }
      p[i] = p[i] - a.lr * gi;
    }
  });
}

template <bool Momentum, class T>
void sgd_dispatch_host(const sgd_step_args<T>& a) {
  if (a.first_step) {
    if (a.nesterov) sgd_update_host<Momentum, true, true>(a);
    else sgd_update_host<Momentum, true, false>(a);
  } else {
    if (a.nesterov) sgd_update_host<Momentum, false, true>(a);
    else sgd_update_host<Momentum, false, false>(a);
  }
}

}  // namespace detail

template <>
struct kernel<sgd_op, cpu> {
  template <class T>
  static void step(const sgd_step_args<T>& a) {
    if (a.momentum_buffer) detail::sgd_dispatch_host<true>(a);
    else detail::sgd_dispatch_host<false>(a);
  }
};

}  // namespace vae
