// cpu kernel of the batched matrix product: one GEMM per matrix, in parallel over the batch when it fills the pool.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/gemm.hpp"
#include "vae/ops/batched_matmul.hpp"

namespace vae {

template <>
struct kernel<batched_matmul_op, cpu> {
  // With fewer matrices than threads each GEMM parallelises inside; otherwise each thread takes whole matrices (a
  // GEMM called inside the parallel loop runs on its thread alone), so the result never depends on the schedule.
  template <class T>
  static void run(const batched_matmul_dims& d, T alpha, const T* a, const T* b, T beta, T* c) {
    if (d.batch == 0 || d.m == 0 || d.n == 0) return;
    const std::int64_t lda = d.trans_a ? d.m : d.k, ldb = d.trans_b ? d.k : d.n;
    auto one = [&](std::int64_t i) {
      cpu_detail::gemm<T>(d.trans_a, d.trans_b, d.m, d.n, d.k, alpha, a + i * d.m * d.k, lda, b + i * d.k * d.n, ldb,
                          beta, c + i * d.m * d.n, d.n);
    };
    if (d.batch < max_threads()) {
      for (std::int64_t i = 0; i < d.batch; ++i) one(i);
    } else {
      parallel_for(d.batch, d.batch * d.m * d.n * (d.k + 1), one);
    }
  }
};

}  // namespace vae
