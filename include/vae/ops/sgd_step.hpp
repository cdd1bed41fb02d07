// SGD step op: one fused torch.optim.SGD update (momentum, dampening, Nesterov, L2 decay) over a flat buffer.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"

namespace vae {

// One SGD step over n contiguous elements. Each backend implements it as
// kernel<sgd_op, B>::step(const sgd_step_args<T>&).
struct sgd_op {};
template <class T>
struct sgd_step_args {
  std::int64_t n = 0;
  T* param = nullptr;
  const T* grad = nullptr;
  T* momentum_buffer = nullptr;  // null when momentum == 0
  bool first_step = false;       // the buffer is initialised to the gradient instead of updated
  bool nesterov = false;
  T lr{}, momentum{}, dampening{}, weight_decay{};
  T one_minus_dampening{};  // computed in double, as PyTorch passes it
};

namespace ops {
// The update of sgd_step_args (with momentum where momentum_buffer is set) over [0, a.n).
template <class B, class T>
void sgd_step(const sgd_step_args<T>& a) {
  kernel<sgd_op, B>::step(a);
}
}  // namespace ops

}  // namespace vae

#include "vae/backend/cpu/sgd_step.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/sgd.cuh"
#endif
