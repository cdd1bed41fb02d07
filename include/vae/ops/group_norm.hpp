// GroupNorm op: per (sample, group) normalisation over C/G channels × spatial, then a per-channel affine; with
// backward.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"

namespace vae {

struct group_norm_op {};

// Sizes of one group-norm call on x [batch, channels, spatial...]: `spatial` is the product of the trailing dims.
struct group_norm_dims {
  std::int64_t batch, channels, groups, spatial;
};

namespace ops {
// y = (x − mean) · rstd · weight[c] + bias[c] per (n, g), with mean and biased variance over the group's
// channels/groups × spatial elements and rstd = 1/√(var + eps) (PyTorch semantics). weight/bias may be null
// (affine=false). Saves mean and rstd [batch·groups] for the backward.
template <class B, class T>
void group_norm_forward(const group_norm_dims& d, double eps, const T* x, const T* weight, const T* bias, T* y, T* mean,
                        T* rstd) {
  kernel<group_norm_op, B>::forward(d, eps, x, weight, bias, y, mean, rstd);
}
// dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = dy·weight[c] (WRITES dx; skipped when null),
// dweight[c] += Σ dy·x̂, dbias[c] += Σ dy (ADDS; skipped when null).
template <class B, class T>
void group_norm_backward(const group_norm_dims& d, const T* x, const T* weight, const T* mean, const T* rstd,
                         const T* dy, T* dx, T* dweight, T* dbias) {
  kernel<group_norm_op, B>::backward(d, x, weight, mean, rstd, dy, dx, dweight, dbias);
}
}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/group_norm.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/group_norm.cuh"
#endif
