// Ops of the diagonal-Gaussian latent: split/join of (mu, logvar), reparameterisation with its backward, standard
// normal draws, and the analytic KL against a diagonal Gaussian prior (per row and per dimension) with its gradient.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/core/rng.hpp"

namespace vae {

// Op tags (kernel<Op, B> in backend/<name>/gaussian_latent.*).
struct posterior_split_op {};   // h [N, 2D] ↔ mu, logvar [N, D]
struct reparameterize_op {};    // z = mu + exp(½ logvar)·eps, eps ~ N(0, 1) from the generator; backward
struct normal_fill_op {};       // out[i] ~ N(0, 1), the same draws as generator::fill_normal
struct gaussian_kl_op {};       // KL(N(mu, e^logvar) ‖ N(m, e^lv)) per row / per dimension and its gradient

// All pointers point into B's memory (device memory for cuda); prior arrays are nullable (null = N(0, I)).
namespace ops {

// mu[i, j] = h[i, j], logvar[i, j] = h[i, D + j] (torch.chunk(2, dim=1)).
template <class B, class T>
void split_posterior(std::int64_t n, std::int64_t d, const T* h, T* mu, T* logvar) {
  kernel<posterior_split_op, B>::split(n, d, h, mu, logvar);
}
// dh[i, j] = dmu[i, j], dh[i, D + j] = dlogvar[i, j].
template <class B, class T>
void join_posterior(std::int64_t n, std::int64_t d, const T* dmu, const T* dlogvar, T* dh) {
  kernel<posterior_split_op, B>::join(n, d, dmu, dlogvar, dh);
}

// eps[i] = draw i of n reserved from rng (as rng.fill_normal(eps, n)); z[i] = mu[i] + exp(½ logvar[i])·eps[i] in
// double, rounded to T.
template <class B, class T>
void reparameterize(generator& rng, std::int64_t n, const T* mu, const T* logvar, T* eps, T* z) {
  kernel<reparameterize_op, B>::forward(rng, n, mu, logvar, eps, z);
}
// dmu[i] += dz[i]; dlogvar[i] += dz[i]·eps[i]·½·exp(½ logvar[i]).
template <class B, class T>
void reparameterize_backward(std::int64_t n, const T* logvar, const T* eps, const T* dz, T* dmu, T* dlogvar) {
  kernel<reparameterize_op, B>::backward(n, logvar, eps, dz, dmu, dlogvar);
}

// out[i] ~ N(0, 1): n draws reserved from rng, as rng.fill_normal(out, n).
template <class B, class T>
void fill_normal(generator& rng, T* out, std::int64_t n) {
  kernel<normal_fill_op, B>::run(rng, out, n);
}

// KL_ij = ½[lv_j − logvar_ij + (exp(logvar_ij) + (mu_ij − m_j)²)/exp(lv_j) − 1] in double, for mu, logvar [N, D]
// and the prior's m, lv [D] (doubles; both null = N(0, I)). WRITES per_row[i] = Σ_j KL_ij (j ascending) and
// per_dim[j] = Σ_i KL_ij / N (i ascending).
template <class B, class T>
void gaussian_kl(std::int64_t n, std::int64_t d, const T* mu, const T* logvar, const double* prior_mean,
                 const double* prior_logvar, double* per_row, double* per_dim) {
  kernel<gaussian_kl_op, B>::forward(n, d, mu, logvar, prior_mean, prior_logvar, per_row, per_dim);
}
// The gradient of Σ_ij s_ij KL_ij with s_ij = row_scale[i]·dim_scale[j] (dim_scale null = 1): ADDS into dmu,
// dlogvar; WRITES the prior's gradients g_mean[j], g_logvar[j] when those are non-null.
template <class B, class T>
void gaussian_kl_backward(std::int64_t n, std::int64_t d, const T* mu, const T* logvar, const double* prior_mean,
                          const double* prior_logvar, const double* row_scale, const double* dim_scale, T* dmu,
                          T* dlogvar, double* g_mean, double* g_logvar) {
  kernel<gaussian_kl_op, B>::backward(n, d, mu, logvar, prior_mean, prior_logvar, row_scale, dim_scale, dmu, dlogvar,
                                      g_mean, g_logvar);
}

}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/gaussian_latent.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/gaussian_latent.cuh"
#endif
