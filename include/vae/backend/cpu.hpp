// The cpu backend tag: host memory, OpenMP parallel loops, Eigen matrix products. The reference backend.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "vae/config.hpp"
#include "vae/core/memory_space.hpp"

namespace vae {

// Backend policy for the host. Kernels are not members: they are specialisations kernel<Op, cpu>.
struct cpu {
  using memory_space = host_memory;
  static constexpr const char* name = "cpu";
  static constexpr std::size_t alignment = 64;

  template <class T>
  static T* allocate(std::size_t n) {
    if (n == 0) return nullptr;
    const std::size_t bytes = (n * sizeof(T) + alignment - 1) / alignment * alignment;
    void* p = std::aligned_alloc(alignment, bytes);
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  template <class T>
  static void deallocate(T* p) noexcept { std::free(p); }
  template <class T>
  static void copy(T* dst, const T* src, std::size_t n) {
    if (n) std::memcpy(dst, src, n * sizeof(T));
  }
  // Host↔backend transfers (for cpu, plain copies), so backend-neutral code stages data the same way everywhere.
  template <class T>
  static void copy_from_host(T* dst, const T* src, std::size_t n) { copy(dst, src, n); }
  template <class T>
  static void copy_to_host(T* dst, const T* src, std::size_t n) { copy(dst, src, n); }
  template <class T>
  static void fill(T* dst, std::size_t n, T value) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = value;
  }
  static void synchronize() {}
};

// False for every Op and Backend; a template so that the assertion below fires only when instantiated, and so that
// the compiler's note on it names both types ("no_kernel_for<vae::linear_op, vae::cuda>::value evaluates to false").
template <class Op, class Backend>
struct no_kernel_for {
  static constexpr bool value = false;
};

// Primary template of the kernel table: ops name a kernel<Op, Backend>; a backend that lacks one
// fails to compile at the use, naming the op and the backend, instead of silently falling back.
template <class Op, class Backend>
struct kernel {
  static_assert(no_kernel_for<Op, Backend>::value,
                "vae: no kernel<Op, Backend> for this op on this backend (the note names both; kernels live in "
                "backend/<name>/<op>)");
};

namespace detail {
// Loops shorter than this run serially: the OpenMP fork/join costs more than it saves.
inline constexpr std::int64_t parallel_grain = 1 << 14;
}  // namespace detail

// Runs body(i) for i in [0, n) on the one OpenMP pool when the work is large enough (`cost` is the
// approximate number of scalar operations in total). Never nests: inside a parallel region it runs serially.
template <class Body>
void parallel_for(std::int64_t n, std::int64_t cost, Body&& body) {
#if defined(_OPENMP)
  if (cost >= detail::parallel_grain && n > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) body(i);
    return;
  }
#endif
  for (std::int64_t i = 0; i < n; ++i) body(i);
}

inline int max_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

}  // namespace vae
