// Adam step op: one fused Adam/AdamW (optionally AMSGrad) update over a flat buffer, PyTorch's formula.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"

namespace vae {

// One Adam step over n contiguous elements, the scalars that depend on the step count computed on the host in
// double. Each backend implements it as kernel<adam_op, B>::step(const adam_step_args<T>&).
struct adam_op {};
template <class T>
struct adam_step_args {
  std::int64_t n = 0;
  T* param = nullptr;
  const T* grad = nullptr;
  T* exp_avg = nullptr;
  T* exp_avg_sq = nullptr;
  T* max_exp_avg_sq = nullptr;  // null unless AMSGrad
  T beta1{}, beta2{}, eps{};
  T one_minus_beta1{}, one_minus_beta2{};  // 1 − β computed in double, as PyTorch passes them
  T l2{};            // added to the gradient: g + l2·p (Adam's weight_decay; 0 for AdamW)
  T decay_factor{};  // p ← p·decay_factor before the update (1 − lr·wd for AdamW; exactly 1 for Adam)
  T step_size{};     // lr / (1 − β1ᵗ)
  T bias_correction2_sqrt{};  // √(1 − β2ᵗ)
};

namespace ops {
// The update of adam_step_args (AMSGrad where max_exp_avg_sq is set) over [0, a.n).
template <class B, class T>
void adam_step(const adam_step_args<T>& a) {
  kernel<adam_op, B>::step(a);
}
}  // namespace ops

}  // namespace vae

#include "vae/backend/cpu/adam_step.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/adam_step.cuh"
#endif
