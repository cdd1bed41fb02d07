// Fused Adam/AdamW step on the device: one thread per parameter updates m, v and the value in one pass (PyTorch's formula).
#pragma once
#include <cmath>
#include <cstdint>

#include "vae/backend/cuda.hpp"

namespace vae {

namespace cuda_detail {

// Hyper-parameters of one step, as torch.optim.Adam / AdamW name them.
struct adam_hyper {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool decoupled_weight_decay = false;  // false: Adam (L2 added to the gradient); true: AdamW
};

// PyTorch (torch/optim/adam.py, single-tensor path), for step t ≥ 1:
//   AdamW: p ← p · (1 − lr·wd)          Adam: g ← g + wd·p
//   m ← β1·m + (1 − β1)·g              v ← β2·v + (1 − β2)·g²
//   p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + eps)
// The scalars that depend only on t are computed once on the host, in double, and passed in.
template <class T>
__global__ void adam_kernel(std::int64_t n, T* param, const T* grad, T* m, T* v, T lr, T beta1, T beta2, T eps,
                            T weight_decay, bool decoupled, T step_size, T bias_correction2_sqrt) {
  const std::int64_t i = thread_index();
  if (i >= n) return;
  T p = param[i];
  T g = grad[i];
  if (weight_decay != T(0)) {
    if (decoupled) p *= T(1) - lr * weight_decay;
    else g += weight_decay * p;
  }
  const T mi = beta1 * m[i] + (T(1) - beta1) * g;
  const T vi = beta2 * v[i] + (T(1) - beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  param[i] = p - step_size * mi / (std::sqrt(vi) / bias_correction2_sqrt + eps);
}

// One step t (1-based) over n contiguous parameters with their gradients and moment buffers (device pointers).
template <class T>
void adam_step(const adam_hyper& h, std::int64_t t, std::int64_t n, T* param, const T* grad, T* m, T* v) {
  vae::check(t >= 1, [&] { return cat("adam_step: the step count starts at 1, got ", t); });
  if (n == 0) return;
  const double bc1 = 1.0 - std::pow(h.beta1, static_cast<double>(t));
  const double bc2 = 1.0 - std::pow(h.beta2, static_cast<double>(t));
  adam_kernel<<<blocks_for(n), threads_per_block, 0, stream()>>>(
      n, param, grad, m, v, static_cast<T>(h.lr), static_cast<T>(h.beta1), static_cast<T>(h.beta2),
      static_cast<T>(h.eps), static_cast<T>(h.weight_decay), h.decoupled_weight_decay, static_cast<T>(h.lr / bc1),
      static_cast<T>(std::sqrt(bc2)));
  check_launch("vae::cuda adam_step");
}

}  // namespace cuda_detail

}  // namespace vae
