// cuda kernel of the batched matrix product: one cuBLAS strided-batched GEMM (row-major through the transposition
// trick of cuda_detail::gemm).
#pragma once
#include <cstdint>
#include <type_traits>

#include "vae/backend/cuda.hpp"
#include "vae/backend/cuda/linear.cuh"
#include "vae/ops/batched_matmul.hpp"

namespace vae {

template <>
struct kernel<batched_matmul_op, cuda> {
  // As cuda_detail::gemm: cuBLAS is column-major, so it computes C[b]ᵀ = op(B[b])ᵀ · op(A[b])ᵀ.
  template <class T>
  static void run(const batched_matmul_dims& d, T alpha, const T* a, const T* b, T beta, T* c) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "cuda batched_matmul: float or double only");
    if (d.batch == 0 || d.m == 0 || d.n == 0) return;
    if (d.k == 0) {  // no products: C = beta · C over the whole packed batch
      cuda_detail::scale_kernel<<<cuda_detail::blocks_for(d.batch * d.m * d.n), cuda_detail::threads_per_block, 0,
                                  cuda_detail::stream()>>>(c, d.batch * d.m, d.n, d.n, beta);
      cuda_detail::check_launch("vae::cuda batched_matmul scale");
      return;
    }
    using cuda_detail::blas_int;
    const cublasOperation_t op_a = d.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t op_b = d.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    const int m = blas_int(d.n, "n"), n = blas_int(d.m, "m"), k = blas_int(d.k, "k");
    const int lda = blas_int(d.trans_a ? d.m : d.k, "lda"), ldb = blas_int(d.trans_b ? d.k : d.n, "ldb");
    const int batch = blas_int(d.batch, "batch");
    const long long sa = d.m * d.k, sb = d.k * d.n, sc = d.m * d.n;
    if constexpr (std::is_same_v<T, float>)
      cuda_detail::check_call(cublasSgemmStridedBatched(cuda_detail::blas(), op_b, op_a, m, n, k, &alpha, b, ldb, sb, a,
                                                        lda, sa, &beta, c, m, sc, batch),
                              "cublasSgemmStridedBatched");
    else
      cuda_detail::check_call(cublasDgemmStridedBatched(cuda_detail::blas(), op_b, op_a, m, n, k, &alpha, b, ldb, sb, a,
                                                        lda, sa, &beta, c, m, sc, batch),
                              "cublasDgemmStridedBatched");
  }
};

}  // namespace vae
