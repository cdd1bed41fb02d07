// Gradient norm clipping (torch.nn.utils.clip_grad_norm_) over the flat trainable range, and a finite check naming the culprit.
#pragma once
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vae/core/error.hpp"
#include "vae/core/parameters.hpp"
#include "vae/ops/grad_norm.hpp"
#include "vae/train/optimizer.hpp"

namespace vae {

// L2 norm of all trainable gradients together (the norm of the per-parameter norms), accumulated in double.
template <class T, class B>
double grad_norm(parameter_store<T, B>& store) {
  return std::sqrt(ops::grad_sum_of_squares<B>(store.trainable_size(), store.grads()));
}

// torch.nn.utils.clip_grad_norm_(params, max_norm): scales every trainable gradient by
// max_norm / (total_norm + 1e-6) when that factor is below 1, and returns the total norm before clipping.
// Unlike PyTorch, a non-finite total norm leaves the gradients as they are (PyTorch would scale them by NaN),
// so first_nonfinite_grad can still say where the problem is.
template <class T, class B>
double clip_grad_norm(parameter_store<T, B>& store, double max_norm) {
  check(max_norm > 0, [&] { return cat("clip_grad_norm: max_norm must be > 0, got ", max_norm); });
  const std::int64_t n = store.trainable_size();
  T* g = store.grads();
  const double total = std::sqrt(ops::grad_sum_of_squares<B>(n, g));
  const double coef = max_norm / (total + 1e-6);
  if (std::isfinite(total) && coef < 1.0) ops::grad_scale<B>(n, static_cast<T>(coef), g);
  return total;
}

// The name of the first trainable parameter (in store order) whose gradient holds a NaN or ±inf, or nothing
// when all are finite. Training loops call it when the loss or the gradient norm is not finite, to stop and say where.
template <class T, class B>
std::optional<std::string> first_nonfinite_grad(parameter_store<T, B>& store) {
  const T* g = store.grads();
  for (const auto& e : store.entries())
    if (e.trainable && !ops::grad_all_finite<B>(e.shape.numel(), g + e.offset)) return e.name;
  return std::nullopt;
}

}  // namespace vae
