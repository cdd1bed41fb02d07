// BatchNorm op: per-channel normalisation over batch × spatial (training) or by running statistics (eval); with
// backward.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"

namespace vae {

struct batch_norm_op {};

// Sizes of one batch-norm call on x [batch, channels, spatial...]: `spatial` is the product of the trailing dims.
struct batch_norm_dims {
  std::int64_t batch, channels, spatial;
};

namespace ops {
// Training mode (PyTorch semantics): per channel, mean and biased variance over batch·spatial values,
// y = (x − mean)·rstd·weight[c] + bias[c] with rstd = 1/√(var + eps). Saves mean and rstd [channels].
// When running_mean/running_var are non-null they are updated in place with the UNBIASED variance:
// running = (1 − momentum)·running + momentum·batch_stat. weight/bias may be null (affine=false).
template <class B, class T>
void batch_norm_forward_train(const batch_norm_dims& d, double eps, double momentum, const T* x, const T* weight,
                              const T* bias, T* y, T* mean, T* rstd, T* running_mean, T* running_var) {
  kernel<batch_norm_op, B>::forward_train(d, eps, momentum, x, weight, bias, y, mean, rstd, running_mean, running_var);
}
// Eval mode: y = (x − running_mean[c])·rstd·weight[c] + bias[c] with rstd = 1/√(running_var[c] + eps).
// Saves the statistics used (mean = running_mean, rstd) [channels] for the backward.
template <class B, class T>
void batch_norm_forward_eval(const batch_norm_dims& d, double eps, const T* x, const T* weight, const T* bias,
                             const T* running_mean, const T* running_var, T* y, T* mean, T* rstd) {
  kernel<batch_norm_op, B>::forward_eval(d, eps, x, weight, bias, running_mean, running_var, y, mean, rstd);
}
// Backward of either mode with the saved mean/rstd. training=true: the statistics depend on x,
// dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = dy·weight[c]; training=false: they are constants,
// dx = ĝ·rstd. dx WRITTEN (skipped when null); dweight[c] += Σ dy·x̂, dbias[c] += Σ dy (skipped when null).
template <class B, class T>
void batch_norm_backward(const batch_norm_dims& d, bool training, const T* x, const T* weight, const T* mean,
                         const T* rstd, const T* dy, T* dx, T* dweight, T* dbias) {
  kernel<batch_norm_op, B>::backward(d, training, x, weight, mean, rstd, dy, dx, dweight, dbias);
}
}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/batch_norm.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/batch_norm.cuh"
#endif
