// Batched matrix product (torch.bmm with optional transposes): C[b] = alpha · op(A[b]) · op(B[b]) + beta · C[b].
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/core/error.hpp"

namespace vae {

struct batched_matmul_op {};

// `batch` row-major products of op(A) [m, k] by op(B) [k, n] into C [m, n]. A[b] is [m, k] (or [k, m] when trans_a),
// B[b] is [k, n] (or [n, k] when trans_b); matrices are packed one after the other (strides m·k, k·n, m·n).
struct batched_matmul_dims {
  std::int64_t batch, m, n, k;
  bool trans_a = false, trans_b = false;
};

namespace ops {
// C[b] = alpha · op(A[b]) · op(B[b]) + beta · C[b] for every b (beta = 0: C is written, never read).
template <class B, class T>
void batched_matmul(const batched_matmul_dims& d, T alpha, const T* a, const T* b, T beta, T* c) {
  check(d.batch >= 0 && d.m >= 0 && d.n >= 0 && d.k >= 0, [&] {
    return cat("batched_matmul: sizes must be non-negative, got batch=", d.batch, " m=", d.m, " n=", d.n, " k=", d.k);
  });
  kernel<batched_matmul_op, B>::run(d, alpha, a, b, beta, c);
}
}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/batched_matmul.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/batched_matmul.cuh"
#endif
