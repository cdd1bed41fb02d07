// Build configuration: version, feature switches, and the ABI namespace keyed on them.
#pragma once

#define VAE_VERSION_MAJOR 0
#define VAE_VERSION_MINOR 1
#define VAE_VERSION_PATCH 0

#if defined(_OPENMP)
#define VAE_HAS_OPENMP 1
#else
#define VAE_HAS_OPENMP 0
#endif

#if defined(VAE_WITH_CUDA) && defined(__CUDACC__)
#define VAE_HAS_CUDA 1
#else
#define VAE_HAS_CUDA 0
#endif

namespace vae {
// Objects built with and without OpenMP/CUDA differ in layout-relevant ways (thread-local scratch,
// device pointers); the inline namespace makes mixing them a link error instead of a crash.
#if VAE_HAS_OPENMP && VAE_HAS_CUDA
inline namespace abi_omp_cuda {}
#elif VAE_HAS_OPENMP
inline namespace abi_omp {}
#elif VAE_HAS_CUDA
inline namespace abi_cuda {}
#else
inline namespace abi_serial {}
#endif
inline constexpr const char* version_string = "0.1.0";
}  // namespace vae
