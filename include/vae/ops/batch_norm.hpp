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

// The training path split at its per-channel sums, for statistics over a batch spread across processes
// (SyncBatchNorm, as PyTorch's batch_norm_stats / batch_norm_elemt / batch_norm_backward_reduce /
// batch_norm_backward_elemt): the caller adds each channel's sums over the processes between the calls. The sums
// are double arrays in backend memory (a few per channel, staged to the host for the reduction); on one process the
// four calls reproduce batch_norm_forward_train and batch_norm_backward bit for bit (same sums in the same order,
// same formulas).
//
// The variance is two-pass, as the fused kernel's: first Σx (→ the global mean), then Σ(x − mean)² about that
// global mean, so no large Σx² − n·mean² cancellation (one extra reduction of `channels` doubles per forward).
// sum[c] = Σ x and sum_sq_dev[c] = Σ (x − center[c])² over the channel's batch·spatial values, in double; center
// null = 0; either output may be null (skipped).
template <class B, class T>
void batch_norm_channel_sums(const batch_norm_dims& d, const T* x, const double* center, double* sum,
                             double* sum_sq_dev) {
  kernel<batch_norm_op, B>::channel_sums(d, x, center, sum, sum_sq_dev);
}
// y = (x − mean[c])·rstd·weight[c] + bias[c] with rstd = 1/√(var[c] + eps), from given statistics in double (the
// biased variance of the global batch); saves them in T (mean, rstd) for the backward. The eval kernel with
// double statistics. weight/bias may be null.
template <class B, class T>
void batch_norm_forward_with_stats(const batch_norm_dims& d, double eps, const T* x, const T* weight, const T* bias,
                                   const double* mean, const double* var, T* y, T* saved_mean, T* saved_rstd) {
  kernel<batch_norm_op, B>::forward_eval(d, eps, x, weight, bias, mean, var, y, saved_mean, saved_rstd);
}
// Per channel, in double: sum_dy[c] = Σ dy and sum_dy_xhat[c] = Σ dy·x̂ with x̂ = (x − mean)·rstd (saved T
// statistics); these are also the local parameter gradients: dweight[c] += sum_dy_xhat, dbias[c] += sum_dy
// (skipped when null).
template <class B, class T>
void batch_norm_backward_reduce(const batch_norm_dims& d, const T* x, const T* mean, const T* rstd, const T* dy,
                                double* sum_dy, double* sum_dy_xhat, T* dweight, T* dbias) {
  kernel<batch_norm_op, B>::backward_reduce(d, x, mean, rstd, dy, sum_dy, sum_dy_xhat, dweight, dbias);
}
// dx = rstd·weight[c]·(dy − mean_dy[c] − x̂·mean_dy_xhat[c]) (WRITTEN), with the means of dy and dy·x̂ over the
// (global) batch given in double: the training backward's element step. weight may be null.
template <class B, class T>
void batch_norm_backward_elemt(const batch_norm_dims& d, const T* x, const T* weight, const T* mean, const T* rstd,
                               const T* dy, const double* mean_dy, const double* mean_dy_xhat, T* dx) {
  kernel<batch_norm_op, B>::backward_elemt(d, x, weight, mean, rstd, dy, mean_dy, mean_dy_xhat, dx);
}
}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/batch_norm.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/batch_norm.cuh"
#endif
