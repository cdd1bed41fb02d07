// Ops of the likelihood policies: Bernoulli (logits) and fixed-variance Gaussian −log p per image, their
// gradients in the decoder output, and the Bernoulli mean (sigmoid).
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"

namespace vae {

struct bernoulli_likelihood_op {};  // kernel<bernoulli_likelihood_op, B>: nll, backward, mean
struct gaussian_likelihood_op {};   // kernel<gaussian_likelihood_op, B>: nll, backward (fixed variance)

// out and x are [rows, p] (p values per image); all pointers point into B's memory (device memory for cuda).
namespace ops {

// per_row[i] = Σ_k softplus(out_ik) − out_ik·x_ik in double (BCE with logits).
template <class B, class T>
void bernoulli_nll(std::int64_t rows, std::int64_t p, const T* out, const T* x, double* per_row) {
  kernel<bernoulli_likelihood_op, B>::nll(rows, p, out, x, per_row);
}
// d_out[i, k] = row_weight[i]·(σ(out_ik) − x_ik) (WRITTEN).
template <class B, class T>
void bernoulli_nll_backward(std::int64_t rows, std::int64_t p, const T* out, const T* x, const double* row_weight,
                            T* d_out) {
  kernel<bernoulli_likelihood_op, B>::backward(rows, p, out, x, row_weight, d_out);
}
// Both of the above in one pass over out and x where B's kernel has one (the cpu's: one exp per value), else the two
// ops in turn. For a row weight that does not depend on the nll (the ELBO's 1/N).
template <class B, class T>
void bernoulli_nll_and_backward(std::int64_t rows, std::int64_t p, const T* out, const T* x, const double* row_weight,
                                double* per_row, T* d_out) {
  using K = kernel<bernoulli_likelihood_op, B>;
  if constexpr (requires { K::nll_and_backward(rows, p, out, x, row_weight, per_row, d_out); }) {
    K::nll_and_backward(rows, p, out, x, row_weight, per_row, d_out);
  } else {
    K::nll(rows, p, out, x, per_row);
    K::backward(rows, p, out, x, row_weight, d_out);
  }
}
// pixels[i] = σ(out[i]) for i < n.
template <class B, class T>
void bernoulli_mean(std::int64_t n, const T* out, T* pixels) {
  kernel<bernoulli_likelihood_op, B>::mean(n, out, pixels);
}

// per_row[i] = Σ_k ½(x_ik − out_ik)²/c + ½ log(2πc) in double.
template <class B, class T>
void gaussian_nll(std::int64_t rows, std::int64_t p, double variance, const T* out, const T* x, double* per_row) {
  kernel<gaussian_likelihood_op, B>::nll(rows, p, variance, out, x, per_row);
}
// d_out[i, k] = row_weight[i]/c·(out_ik − x_ik) (WRITTEN).
template <class B, class T>
void gaussian_nll_backward(std::int64_t rows, std::int64_t p, double variance, const T* out, const T* x,
                           const double* row_weight, T* d_out) {
  kernel<gaussian_likelihood_op, B>::backward(rows, p, variance, out, x, row_weight, d_out);
}

}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/likelihood_terms.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/likelihood_terms.cuh"
#endif
