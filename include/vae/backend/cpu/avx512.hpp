// Whether this build compiles vae's own AVX-512 kernels (GEMM, Adam): where the compiler targets AVX-512 (-march=native
// on such a cpu) and VAE_DISABLE_AVX512 is not defined (CMake -DVAE_AVX512=OFF, for A/B measurements).
#pragma once

#if defined(__AVX512F__) && !defined(VAE_DISABLE_AVX512)
#define VAE_AVX512_KERNELS 1
#include <immintrin.h>
#endif

#include <cstdint>

namespace vae::cpu_detail::avx512 {
#if defined(VAE_AVX512_KERNELS)
inline constexpr bool available = true;

// The mask of the first n of 16 lanes (all for n ≥ 16, none for n ≤ 0): loads and stores of row and array tails.
inline __mmask16 lanes(std::int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u);
}
#else
inline constexpr bool available = false;
#endif
}  // namespace vae::cpu_detail::avx512
