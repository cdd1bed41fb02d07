// ActNorm op (Glow's activation normalisation as taming-transformers' ActNorm): y = scale ⊙ (x + loc) per channel,
// NCHW, with its backward and the data-dependent initialisation of loc and scale.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"

namespace vae {

struct act_norm_op {};

// x [batch, channels, spatial...]: `spatial` values per (sample, channel).
struct act_norm_dims {
  std::int64_t batch, channels, spatial;
};

namespace ops {
// When *initialized == 0 (a value on the backend, read there: no host round trip): loc = −mean and
// scale = 1 / (std + 1e-6) per channel over batch and positions (std unbiased, as torch.std), then *initialized = 1.
// Otherwise nothing. Needs batch·spatial ≥ 2 values per channel.
template <class B, class T>
void act_norm_initialize(const act_norm_dims& d, const T* x, T* loc, T* scale, T* initialized) {
  kernel<act_norm_op, B>::initialize(d, x, loc, scale, initialized);
}
// y = scale[c] · (x + loc[c]).
template <class B, class T>
void act_norm_forward(const act_norm_dims& d, const T* x, const T* loc, const T* scale, T* y) {
  kernel<act_norm_op, B>::forward(d, x, loc, scale, y);
}
// dx = scale[c] · dy (WRITTEN); dloc[c] += Σ scale[c] · dy, dscale[c] += Σ (x + loc[c]) · dy (skipped when null).
template <class B, class T>
void act_norm_backward(const act_norm_dims& d, const T* x, const T* loc, const T* scale, const T* dy, T* dx, T* dloc,
                       T* dscale) {
  kernel<act_norm_op, B>::backward(d, x, loc, scale, dy, dx, dloc, dscale);
}
}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/act_norm.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/act_norm.cuh"
#endif
