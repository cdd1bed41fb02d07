// cuda kernel of the linear op: three cuBLAS GEMMs (row-major through the transposition trick) and two bias kernels.
#pragma once
#include <cstdint>
#include <limits>
#include <type_traits>

#include "vae/backend/cuda.hpp"
#include "vae/ops/linear.hpp"

namespace vae {

namespace cuda_detail {

template <class T>
__global__ void scale_kernel(T* c, std::int64_t rows, std::int64_t cols, std::int64_t ldc, T beta) {
  const std::int64_t i = thread_index();
  if (i >= rows * cols) return;
  T& v = c[(i / cols) * ldc + i % cols];
  v = beta == T(0) ? T(0) : v * beta;
}

inline int blas_int(std::int64_t v, const char* what) {
  vae::check(v >= 0 && v <= std::numeric_limits<int>::max(),
             [&] { return cat("cuda gemm: ", what, " = ", v, " does not fit cuBLAS's 32-bit int"); });
  return static_cast<int>(v);
}

// C[M,N] = alpha · op(A) · op(B) + beta · C, all row-major, exactly as cpu_detail::gemm.
// cuBLAS is column-major, and a row-major matrix read column-major is its transpose, so we ask cuBLAS for
// Cᵀ[N,M] = op(B)ᵀ · op(A)ᵀ: B goes first with op N when B is not transposed, A second likewise.
template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A,
          std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "cuda gemm: float or double only");
  if (M == 0 || N == 0) return;
  if (K == 0) {  // no products: C = beta · C (cuBLAS's k = 0 behaviour is not something to lean on)
    scale_kernel<<<blocks_for(M * N), threads_per_block, 0, stream()>>>(C, M, N, ldc, beta);
    check_launch("vae::cuda gemm scale");
    return;
  }
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int m = blas_int(N, "N"), n = blas_int(M, "M"), k = blas_int(K, "K");
  const int ld_a = blas_int(lda, "lda"), ld_b = blas_int(ldb, "ldb"), ld_c = blas_int(ldc, "ldc");
  if constexpr (std::is_same_v<T, float>)
    check_call(cublasSgemm(blas(), op_b, op_a, m, n, k, &alpha, B, ld_b, A, ld_a, &beta, C, ld_c), "cublasSgemm");
  else
    check_call(cublasDgemm(blas(), op_b, op_a, m, n, k, &alpha, B, ld_b, A, ld_a, &beta, C, ld_c), "cublasDgemm");
}

// y[r, j] += bias[j] (bias may be null), then y = max(y, 0) when relu: one thread per element of y.
template <class T>
__global__ void add_bias_kernel(T* y, const T* bias, std::int64_t rows, std::int64_t out, bool relu) {
  const std::int64_t i = thread_index();
  if (i >= rows * out) return;
  T v = y[i];
  if (bias) v += bias[i % out];
  if (relu) v = v > T(0) ? v : T(0);  // activation::ReLU::value
  y[i] = v;
}

// dbias[j] += Σ_r dy[r, j] (dbias[j] = Σ_r dy[r, j] when overwrite): one thread per output feature, summing its
// column in row order.
template <class T>
__global__ void bias_grad_kernel(const T* dy, T* dbias, std::int64_t rows, std::int64_t out, bool overwrite) {
  const std::int64_t j = thread_index();
  if (j >= out) return;
  T s = 0;
  for (std::int64_t r = 0; r < rows; ++r) s += dy[r * out + j];
  dbias[j] = overwrite ? s : dbias[j] + s;
}

}  // namespace cuda_detail

template <>
struct kernel<linear_op, cuda> {
  template <class T>
  static void forward(const linear_dims& d, const T* x, const T* w, const T* bias, T* y) {
    cuda_detail::gemm<T>(false, true, d.rows, d.out, d.in, T(1), x, d.in, w, d.in, T(0), y, d.out);
    epilogue(d, bias, y, false);
  }
  // y = max(x·wᵀ + bias, 0): the ReLU applied in the bias pass.
  template <class T>
  static void forward_relu(const linear_dims& d, const T* x, const T* w, const T* bias, T* y) {
    cuda_detail::gemm<T>(false, true, d.rows, d.out, d.in, T(1), x, d.in, w, d.in, T(0), y, d.out);
    epilogue(d, bias, y, true);
  }

  // dw and dbias are added to, or overwritten where overwrite_dw / overwrite_dbias (beta = 0: never read).
  template <class T>
  static void backward(const linear_dims& d, const T* x, const T* w, const T* dy, T* dx, T* dw, T* dbias,
                       bool overwrite_dw = false, bool overwrite_dbias = false) {
    if (dx) cuda_detail::gemm<T>(false, false, d.rows, d.in, d.out, T(1), dy, d.out, w, d.in, T(0), dx, d.in);
    if (dw)
      cuda_detail::gemm<T>(true, false, d.out, d.in, d.rows, T(1), dy, d.out, x, d.in, overwrite_dw ? T(0) : T(1), dw,
                           d.in);
    if (dbias && d.out > 0) {
      cuda_detail::bias_grad_kernel<<<cuda_detail::blocks_for(d.out), cuda_detail::threads_per_block, 0,
                                      cuda_detail::stream()>>>(dy, dbias, d.rows, d.out, overwrite_dbias);
      cuda_detail::check_launch("vae::cuda linear bias_grad");
    }
  }

 private:
  template <class T>
  static void epilogue(const linear_dims& d, const T* bias, T* y, bool relu) {
    if ((!bias && !relu) || d.rows * d.out == 0) return;
    cuda_detail::add_bias_kernel<<<cuda_detail::blocks_for(d.rows * d.out), cuda_detail::threads_per_block, 0,
                                   cuda_detail::stream()>>>(y, bias, d.rows, d.out, relu);
    cuda_detail::check_launch("vae::cuda linear bias/relu");
  }
};

}  // namespace vae
