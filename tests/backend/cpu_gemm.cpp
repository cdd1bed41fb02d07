// The cpu GEMM over the thread pool (bands of the AVX-512 kernel where the build has it, BLAS or Eigen otherwise)
// against a double-precision reference, and avx512::gemm declining (false) exactly when the build lacks the kernels.
#include <doctest/doctest.h>

#include <random>
#include <vector>

#include "gemm_check.hpp"
#include "vae/backend/cpu/avx512_gemm.hpp"
#include "vae/backend/cpu/gemm.hpp"

TEST_CASE("cpu gemm over the thread pool (bands of the AVX-512 kernel) against double") {
  using namespace gemm_check;
  std::mt19937 rng(13);
  auto pooled = [](const product& p, const float* A, const float* B, float* C) {
    vae::cpu_detail::gemm<float>(p.ta, p.tb, p.M, p.N, p.K, p.alpha, A, p.lda, B, p.ldb, p.beta, C, p.ldc);
  };
  check({false, true, 128, 512, 784, 784, 784, 512, 1.0f, 0.0f}, rng, pooled);   // Linear forward
  check({true, false, 512, 784, 128, 512, 784, 784, 1.0f, 1.0f}, rng, pooled);   // Linear weight gradient
  check({false, false, 300, 70, 90, 90, 70, 70, -2.0f, -0.3f}, rng, pooled);
}

TEST_CASE("avx512::gemm runs (true, right product) with the AVX-512 kernels and declines (false, C untouched) without") {
  std::vector<float> a{1, 2, 3, 4}, b{5, 6, 7, 8}, c(4, -1.0f);
  const bool ran = vae::cpu_detail::avx512::gemm(false, false, 2, 2, 2, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 2);
  CHECK(ran == vae::cpu_detail::avx512::available);
  if (ran) CHECK(c == std::vector<float>{19, 22, 43, 50});
  else CHECK(c == std::vector<float>(4, -1.0f));
}
