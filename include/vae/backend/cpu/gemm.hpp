// Row-major GEMM on the cpu backend through Eigen::Map (Eigen parallelises on the OpenMP pool).
#pragma once
#include <Eigen/Core>
#include <cstdint>

#include "vae/backend/cpu.hpp"

namespace vae::cpu_detail {

template <class T>
using row_major = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using const_map = Eigen::Map<const row_major<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using mut_map = Eigen::Map<row_major<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// C[M,N] = alpha · op(A) · op(B) + beta · C, all row-major with leading dimensions lda, ldb, ldc.
// op(A) is [M,K]: A is [M,K] or, transposed, [K,M]. op(B) is [K,N]: B is [K,N] or, transposed, [N,K].
template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A,
          std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc) {
  if (M == 0 || N == 0) return;
  mut_map<T> c(C, M, N, Eigen::OuterStride<>(ldc));
  if (K == 0) {
    if (beta == T(0)) c.setZero(); else c *= beta;
    return;
  }
  const_map<T> a(A, trans_a ? K : M, trans_a ? M : K, Eigen::OuterStride<>(lda));
  const_map<T> b(B, trans_b ? N : K, trans_b ? K : N, Eigen::OuterStride<>(ldb));
  auto run = [&](const auto& lhs, const auto& rhs) {
    if (beta == T(0)) {
      c.noalias() = alpha * (lhs * rhs);
    } else {
      if (beta != T(1)) c *= beta;
      c.noalias() += alpha * (lhs * rhs);
    }
  };
  if (trans_a && trans_b) run(a.transpose(), b.transpose());
  else if (trans_a) run(a.transpose(), b);
  else if (trans_b) run(a, b.transpose());
  else run(a, b);
}

// Instantiating gemm costs ~10 s of compile time per translation unit at -O3 (Eigen's kernels for every transpose
// case). A program with many translation units (our test suite) defines VAE_EXTERN_GEMM and instantiates both
// types once (see tests/gemm_instances.cpp); header-only users need do nothing.
#ifdef VAE_EXTERN_GEMM
extern template void gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*,
                                 std::int64_t, const float*, std::int64_t, float, float*, std::int64_t);
extern template void gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double, const double*,
                                  std::int64_t, const double*, std::int64_t, double, double*, std::int64_t);
#endif

}  // namespace vae::cpu_detail
