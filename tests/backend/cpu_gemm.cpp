// The cpu GEMM over the thread pool (bands of the AVX-512 kernel where the build has it, BLAS or Eigen otherwise)
// against a double-precision reference, avx512::gemm declining (false) exactly when the build lacks the kernels, and
// the few-row products of simd_skinny_gemm.hpp (what builds without those kernels run for a sampled token).
#include <doctest/doctest.h>

#include <random>
#include <vector>

#include "gemm_check.hpp"
#include "vae/backend/cpu/avx512_gemm.hpp"
#include "vae/backend/cpu/gemm.hpp"
#include "vae/backend/cpu/simd_skinny_gemm.hpp"

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

TEST_CASE("simd skinny gemm: one to four rows of A times a transposed weight, every tail, against double") {
  using namespace gemm_check;
  std::mt19937 rng(17);
  auto skinny = [](const product& p, const float* A, const float* B, float* C) {
    REQUIRE(vae::cpu_detail::simd::gemm_skinny(p.ta, p.tb, p.M, p.N, p.K, p.alpha, A, p.lda, B, p.ldb, p.beta, C,
                                               p.ldc));
  };
  for (std::int64_t m = 1; m <= vae::cpu_detail::simd::skinny_rows; ++m)
    for (const std::int64_t n : {1, 7, 8, 9, 33, 256, 301})
      for (const std::int64_t k : {1, 7, 8, 15, 64, 129}) {
        const float beta = (n + k) % 3 == 0 ? 0.0f : 0.5f;
        check({false, true, m, n, k, k + 3, k + 2, n + 1, 1.5f, beta}, rng, skinny);
      }
  // and through gemm_serial, which a Linear's product on one thread reaches (AVX-512 builds: their own skinny kernel)
  auto serial = [](const product& p, const float* A, const float* B, float* C) {
    vae::cpu_detail::gemm_serial<float>(p.ta, p.tb, p.M, p.N, p.K, p.alpha, A, p.lda, B, p.ldb, p.beta, C, p.ldc);
  };
  for (std::int64_t m = 1; m <= 6; ++m) {
    check({false, true, m, 768, 256, 256, 256, 768, 1.0f, 0.0f}, rng, serial);
    check({false, false, m, 64, 500, 500, 64, 64, 1.0f, 0.0f}, rng, serial);  // B [K,N]: BLAS or Eigen
  }
}

TEST_CASE("simd skinny gemm declines (false, C untouched) what it does not compute") {
  std::vector<float> a(5 * 4, 1.0f), b(4 * 4, 1.0f), c(5 * 4, -1.0f);
  const std::vector<float> c0 = c;
  namespace simd = vae::cpu_detail::simd;
  CHECK_FALSE(simd::gemm_skinny(true, true, 1, 4, 4, 1.0f, a.data(), 4, b.data(), 4, 0.0f, c.data(), 4));   // Aᵀ
  CHECK_FALSE(simd::gemm_skinny(false, false, 1, 4, 4, 1.0f, a.data(), 4, b.data(), 4, 0.0f, c.data(), 4)); // B
  CHECK_FALSE(simd::gemm_skinny(false, true, 5, 4, 4, 1.0f, a.data(), 4, b.data(), 4, 0.0f, c.data(), 4));  // M > 4
  CHECK_FALSE(simd::gemm_skinny(false, true, 1, 4, 0, 1.0f, a.data(), 4, b.data(), 4, 0.0f, c.data(), 4));  // K = 0
  CHECK(c == c0);
  CHECK(simd::gemm_skinny(false, true, 1, 4, 4, 1.0f, a.data(), 4, b.data(), 4, 0.0f, c.data(), 4));
  CHECK(std::vector<float>(c.begin(), c.begin() + 4) == std::vector<float>(4, 4.0f));
}
