// flush_denormals: a scope in which the calling thread's SSE/AVX arithmetic reads and writes denormal floats as zero.
#pragma once

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace vae::cpu_detail {

// Why kernels open one: on x86 cores every denormal operand or result of a vector instruction costs a microcode assist
// of the order of a hundred cycles. Two of our kernels produce them in steady state: Adam's first moment of weights
// whose gradient is (almost) always zero decays by β1 every step through the denormal range (9% of the MLP VAE's
// exp_avg after five epochs), and the Bernoulli likelihood's exp(−|o|) underflows for confident logits, whose
// gradients then reach the weight-gradient products. Together they cut mlp-vae training from 44k to 28k samples/s
// after the first few seconds. Values below 1.2e-38 change nothing these kernels compute (an Adam update of
// lr·m/(√v + eps) with m that small is far below any weight's ulp; e that small is far below the ulp of 1 + e and of
// the row's nll), so the flush is exact where it matters and saves the assists. MXCSR is per thread: the scope
// restores the caller's mode when it ends.
class flush_denormals {
 public:
#if defined(__SSE__) || defined(__x86_64__)
  flush_denormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | flush_bits); }
  ~flush_denormals() { _mm_setcsr(saved_); }
#else
  flush_denormals() = default;
#endif
  flush_denormals(const flush_denormals&) = delete;
  flush_denormals& operator=(const flush_denormals&) = delete;

 private:
#if defined(__SSE__) || defined(__x86_64__)
  static constexpr unsigned flush_bits = 0x8040;  // FTZ (bit 15): denormal results are 0; DAZ (bit 6): operands too
  unsigned saved_;
#endif
};

}  // namespace vae::cpu_detail
