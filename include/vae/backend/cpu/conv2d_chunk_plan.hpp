// How the conv cpu kernels cut a batch into cache-sized chunks of images and run them on parallel tasks.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>

#include "vae/backend/cpu.hpp"

namespace vae {

namespace cpu_detail {

// How a batch is cut: chunks of `per_chunk` images (so one chunk's columns, about 1 MiB, stay in cache between
// im2col and the GEMM), dealt round-robin to `tasks` parallel tasks, each with its own scratch. Fixed by
// (sizes, thread count), so results are reproducible for a given thread count.
struct chunk_plan {
  std::int64_t per_chunk = 1, chunks = 1, tasks = 1;
};
inline chunk_plan plan_chunks(std::int64_t n, std::int64_t col_per_image) {
  constexpr std::int64_t target = 1 << 18;  // floats of columns per chunk
  chunk_plan p;
  // At least one chunk per thread: a layer whose whole batch fits one chunk (a 1×1 conv from 32 channels) would
  // otherwise run on one thread while the others wait.
  const std::int64_t threads = std::max<std::int64_t>(1, max_threads());
  const std::int64_t per_thread = std::max<std::int64_t>(1, (n + threads - 1) / threads);
  p.per_chunk = std::max<std::int64_t>(
      1, std::min({n, per_thread, target / std::max<std::int64_t>(1, col_per_image)}));
  p.chunks = n > 0 ? (n + p.per_chunk - 1) / p.per_chunk : 0;
  p.tasks = std::max<std::int64_t>(1, std::min<std::int64_t>(max_threads(), p.chunks));
  if (p.chunks > p.tasks) {  // balance: a whole number of (smaller) chunks per task
    const std::int64_t rounds = (p.chunks + p.tasks - 1) / p.tasks;
    p.per_chunk = (n + rounds * p.tasks - 1) / (rounds * p.tasks);
    p.chunks = (n + p.per_chunk - 1) / p.per_chunk;
  }
  return p;
}
// Runs body(task, first_image, image_count) for every chunk, chunk c on task c % tasks.
template <class Body>
void for_chunks(const chunk_plan& p, std::int64_t n, std::int64_t cost, Body&& body) {
  parallel_for(p.tasks, cost, [&](std::int64_t t) {
    for (std::int64_t c = t; c < p.chunks; c += p.tasks) {
      const std::int64_t b0 = c * p.per_chunk;
      body(t, b0, std::min(p.per_chunk, n - b0));
    }
  });
}
// The same, each chunk taken in order by whichever task is free (a shared counter): for loops whose chunks write
// disjoint outputs and sum into nothing shared (forward passes), where any assignment gives the same values. The
// two threads of a 2-core host do not run at the same speed on a shared machine; a fixed split left one waiting
// (3.5% of a vq-vae step's forward convolutions).
template <class Body>
void for_chunks_dynamic(const chunk_plan& p, std::int64_t n, std::int64_t cost, Body&& body) {
#if defined(_OPENMP)
  if (p.tasks > 1 && p.chunks > p.tasks && cost >= detail::parallel_grain && !omp_in_parallel()) {
    std::atomic<std::int64_t> next{0};
#pragma omp parallel num_threads(static_cast<int>(p.tasks))
    {
      const std::int64_t t = omp_get_thread_num();
      for (std::int64_t c = next.fetch_add(1); c < p.chunks; c = next.fetch_add(1)) {
        const std::int64_t b0 = c * p.per_chunk;
        body(t, b0, std::min(p.per_chunk, n - b0));
      }
    }
    return;
  }
#endif
  for_chunks(p, n, cost, body);
}
// Whether for_chunks(p, n, cost, …) runs its chunk bodies as tasks of a parallel region (or with one thread), so
// that each chunk's product runs serially (windows_in_place holds in them). Mirrors parallel_for's test.
inline bool chunks_in_tasks(const chunk_plan& p, std::int64_t cost) {
  if (max_threads() == 1) return true;
#if defined(_OPENMP)
  return omp_in_parallel() || (p.tasks > 1 && cost >= detail::parallel_grain);
#else
  return true;
#endif
}
// dst += Σ_t partial[t] over `tasks` buffers of `size` elements, in task order.
template <class T>
void reduce_partials(const T* partial, std::int64_t tasks, std::int64_t size, T* dst) {
  parallel_for(size, size * tasks, [&](std::int64_t i) {
    T s = dst[i];
    for (std::int64_t t = 0; t < tasks; ++t) s += partial[t * size + i];
    dst[i] = s;
  });
}
}  // namespace cpu_detail
}  // namespace vae
