// Device random fills and the Gaussian reparameterisation, drawing from the same Philox counter stream as the cpu.
#pragma once
#include <cstdint>

#include "vae/backend/cuda.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"

namespace vae {

namespace cuda_detail {

// out[i] = mean + stddev · counter_normal(seed, first, i): the same draw generator::fill_normal makes on the host.
template <class T>
__global__ void fill_normal_kernel(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t first, double mean,
                                   double stddev) {
  const std::int64_t i = thread_index();
  if (i < n) out[i] = static_cast<T>(mean + stddev * counter_normal(seed, first, static_cast<std::uint64_t>(i)));
}

// out[i] = lo + (hi − lo) · counter_uniform(seed, first, i), as generator::fill_uniform.
template <class T>
__global__ void fill_uniform_kernel(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t first, double lo,
                                    double hi) {
  const std::int64_t i = thread_index();
  if (i < n) out[i] = static_cast<T>(lo + (hi - lo) * counter_uniform(seed, first, static_cast<std::uint64_t>(i)));
}

// eps[i] ~ N(0, 1) from the stream; z[i] = mu[i] + exp(½ logvar[i]) · eps[i]. eps is kept for the backward
// (∂z/∂logvar = ½ · exp(½ logvar) · eps).
template <class T>
__global__ void reparameterize_kernel(std::int64_t n, std::uint64_t seed, std::uint64_t first, const T* mu,
                                      const T* logvar, T* eps, T* z) {
  const std::int64_t i = thread_index();
  if (i >= n) return;
  const T e = static_cast<T>(counter_normal(seed, first, static_cast<std::uint64_t>(i)));
  eps[i] = e;
  z[i] = mu[i] + std::exp(T(0.5) * logvar[i]) * e;
}

}  // namespace cuda_detail

// Device counterparts of generator::fill_normal / fill_uniform: they reserve n draws from `rng` exactly as the
// host versions do, so a run that moves from cpu to cuda draws the same numbers (up to the last bits of
// the device's log/cos/sqrt in double precision).
template <class T>
void fill_normal(generator& rng, T* device_out, std::int64_t n, double mean = 0.0, double stddev = 1.0) {
  const auto first = rng.reserve(static_cast<std::uint64_t>(n));
  if (n == 0) return;
  cuda_detail::fill_normal_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                    cuda_detail::stream()>>>(device_out, n, rng.seed(), first, mean, stddev);
  cuda_detail::check_launch("vae::cuda fill_normal");
}
template <class T>
void fill_uniform(generator& rng, T* device_out, std::int64_t n, double lo, double hi) {
  const auto first = rng.reserve(static_cast<std::uint64_t>(n));
  if (n == 0) return;
  cuda_detail::fill_uniform_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                     cuda_detail::stream()>>>(device_out, n, rng.seed(), first, lo, hi);
  cuda_detail::check_launch("vae::cuda fill_uniform");
}
template <class T>
void fill_normal(generator& rng, tensor<T, cuda>& t, double mean = 0.0, double stddev = 1.0) {
  fill_normal(rng, t.data(), t.numel(), mean, stddev);
}
template <class T>
void fill_uniform(generator& rng, tensor<T, cuda>& t, double lo, double hi) {
  fill_uniform(rng, t.data(), t.numel(), lo, hi);
}

// z = mu + exp(½ logvar) ⊙ eps with eps drawn here (n draws reserved from rng, as rng.fill_normal(eps, n) would
// on the host). All pointers are device pointers of n elements.
template <class T>
void reparameterize_gaussian(generator& rng, std::int64_t n, const T* mu, const T* logvar, T* eps, T* z) {
  const auto first = rng.reserve(static_cast<std::uint64_t>(n));
  if (n == 0) return;
  cuda_detail::reparameterize_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                       cuda_detail::stream()>>>(n, rng.seed(), first, mu, logvar, eps, z);
  cuda_detail::check_launch("vae::cuda reparameterize_gaussian");
}

}  // namespace vae
