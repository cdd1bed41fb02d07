// cuda kernel of the SGD optimizer step (torch.optim.SGD): one thread per parameter, flags read at run time.
#pragma once
#include <cstdint>

#include "vae/backend/cuda.hpp"
#include "vae/train/sgd.hpp"

namespace vae {

namespace cuda_detail {

// PyTorch's formula, per element (as detail::sgd_update_host):
//   g ← g + wd·p
//   b ← g (first step) | μ·b + (1 − dampening)·g        g ← g + μ·b (Nesterov) | b      (only with a buffer)
//   p ← p − lr·g
template <class T>
__global__ void sgd_kernel(sgd_step_args<T> a) {
  const std::int64_t i = thread_index();
  if (i >= a.n) return;
  T gi = a.grad[i] + a.weight_decay * a.param[i];
  if (a.momentum_buffer) {
    const T bi = a.first_step ? gi : a.momentum * a.momentum_buffer[i] + a.one_minus_dampening * gi;
    a.momentum_buffer[i] = bi;
    gi = a.nesterov ? gi + a.momentum * bi : bi;
  }
  a.param[i] = a.param[i] - a.lr * gi;
}

}  // namespace cuda_detail

template <>
struct kernel<sgd_op, cuda> {
  template <class T>
  static void step(const sgd_step_args<T>& a) {
    if (a.n == 0) return;
    cuda_detail::sgd_kernel<<<cuda_detail::blocks_for(a.n), cuda_detail::threads_per_block, 0,
                              cuda_detail::stream()>>>(a);
    cuda_detail::check_launch("vae::cuda sgd step");
  }
};

}  // namespace vae
