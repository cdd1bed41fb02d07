// cuda kernel<adam_op, cuda> for the Adam/AdamW optimizers of train/adam.hpp (incl. AMSGrad): one thread per parameter.
#pragma once
#include <cmath>
#include <cstdint>

#include "vae/backend/cuda.hpp"
#include "vae/train/adam.hpp"

namespace vae {

namespace cuda_detail {

// PyTorch's single-tensor formula, per element (as detail::adam_update_host):
//   g ← g + l2·p              p ← p·decay_factor
//   m ← β1·m + (1 − β1)·g     v ← β2·v + (1 − β2)·g²     [v̂ ← max(v̂, v)]
//   p ← p − step_size · m / (√v / √(1 − β2ᵗ) + eps)
template <class T>
__global__ void adam_args_kernel(adam_step_args<T> a) {
  const std::int64_t i = thread_index();
  if (i >= a.n) return;
  const T p = a.param[i];
  const T g = a.grad[i] + a.l2 * p;
  const T m = a.beta1 * a.exp_avg[i] + a.one_minus_beta1 * g;
  const T v = a.beta2 * a.exp_avg_sq[i] + a.one_minus_beta2 * g * g;
  a.exp_avg[i] = m;
  a.exp_avg_sq[i] = v;
  T denom_v = v;
  if (a.max_exp_avg_sq) {
    const T vmax = a.max_exp_avg_sq[i] > v ? a.max_exp_avg_sq[i] : v;
    a.max_exp_avg_sq[i] = vmax;
    denom_v = vmax;
  }
  a.param[i] = p * a.decay_factor - a.step_size * (m / (std::sqrt(denom_v) / a.bias_correction2_sqrt + a.eps));
}

}  // namespace cuda_detail

template <>
struct kernel<adam_op, cuda> {
  template <class T>
  static void step(const adam_step_args<T>& a) {
    if (a.n == 0) return;
    cuda_detail::adam_args_kernel<<<cuda_detail::blocks_for(a.n), cuda_detail::threads_per_block, 0,
                                    cuda_detail::stream()>>>(a);
    cuda_detail::check_launch("vae::cuda adam step");
  }
};

}  // namespace vae
