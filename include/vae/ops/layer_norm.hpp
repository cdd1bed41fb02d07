// LayerNorm op: per-row normalisation over the last dimension, then a per-feature affine; with backward.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"

namespace vae {

struct layer_norm_op {};

// Sizes of one layer-norm call: `rows` rows of `features` elements (x [..., features]).
struct layer_norm_dims {
  std::int64_t rows, features;
};

namespace ops {
// y = (x − mean) · rstd · weight[j] + bias[j] per row, with the biased variance and rstd = 1/√(var + eps)
// (PyTorch semantics). weight/bias may be null (elementwise_affine=false). Saves mean and rstd [rows].
template <class B, class T>
void layer_norm_forward(const layer_norm_dims& d, double eps, const T* x, const T* weight, const T* bias, T* y, T* mean,
                        T* rstd) {
  kernel<layer_norm_op, B>::forward(d, eps, x, weight, bias, y, mean, rstd);
}
// dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = dy·weight[j] (WRITES dx; skipped when null),
// dweight[j] += Σ_rows dy·x̂, dbias[j] += Σ_rows dy (ADDS; skipped when null).
template <class B, class T>
void layer_norm_backward(const layer_norm_dims& d, const T* x, const T* weight, const T* mean, const T* rstd,
                         const T* dy, T* dx, T* dweight, T* dbias) {
  kernel<layer_norm_op, B>::backward(d, x, weight, mean, rstd, dy, dx, dweight, dbias);
}
}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/layer_norm.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/layer_norm.cuh"
#endif
