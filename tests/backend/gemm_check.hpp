// The float GEMM checks shared by tests/backend/avx512_gemm.cpp and cpu_gemm.cpp: random operands, each element of C
// against a double-precision reference within a float accumulation bound.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "vae/backend/cpu/avx512_gemm.hpp"
#include "vae/backend/cpu/gemm.hpp"

namespace gemm_check {

struct product {
  bool ta, tb;
  std::int64_t M, N, K, lda, ldb, ldc;
  float alpha, beta;
};

// Runs `gemm_fn` on random operands and checks each element of C within a float accumulation bound of the double
// reference: |c − ref| ≤ 8·K·ε·Σ_k |a_ik·b_kj| + 8·ε·|beta·c0|.
template <class Gemm>
void check(const product& p, std::mt19937& rng, Gemm&& gemm_fn) {
  std::normal_distribution<float> normal;
  std::vector<float> A((p.ta ? p.K : p.M) * p.lda), B((p.tb ? p.N : p.K) * p.ldb), C(p.M * p.ldc);
  for (auto& v : A) v = normal(rng);
  for (auto& v : B) v = normal(rng);
  for (auto& v : C) v = normal(rng);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  if (p.beta == 0.0f)
    for (std::int64_t i = 0; i < p.M; ++i)
      for (std::int64_t j = 0; j < p.N; ++j) C[i * p.ldc + j] = nan;  // must not be read
  const std::vector<float> C0 = C;
  auto a = [&](std::int64_t i, std::int64_t k) { return double(p.ta ? A[k * p.lda + i] : A[i * p.lda + k]); };
  auto b = [&](std::int64_t k, std::int64_t j) { return double(p.tb ? B[j * p.ldb + k] : B[k * p.ldb + j]); };
  gemm_fn(p, A.data(), B.data(), C.data());
  const double eps = std::numeric_limits<float>::epsilon();
  std::int64_t bad = 0, touched = 0;
  for (std::int64_t i = 0; i < p.M; ++i) {
    for (std::int64_t j = 0; j < p.N; ++j) {
      double ref = 0, mag = 0;
      for (std::int64_t k = 0; k < p.K; ++k) {
        ref += a(i, k) * b(k, j);
        mag += std::fabs(a(i, k) * b(k, j));
      }
      ref *= p.alpha;
      double c0 = 0;
      if (p.beta != 0.0f) c0 = double(p.beta) * C0[i * p.ldc + j];
      ref += c0;
      const double tol = 8 * p.K * eps * std::fabs(p.alpha) * mag + 8 * eps * std::fabs(c0) + 1e-30;
      const double got = C[i * p.ldc + j];
      if (!(std::fabs(got - ref) <= tol)) ++bad;
    }
    for (std::int64_t j = p.N; j < p.ldc; ++j) touched += C[i * p.ldc + j] != C0[i * p.ldc + j];
  }
  INFO("ta=" << p.ta << " tb=" << p.tb << " M=" << p.M << " N=" << p.N << " K=" << p.K << " lda=" << p.lda
             << " ldb=" << p.ldb << " ldc=" << p.ldc << " alpha=" << p.alpha << " beta=" << p.beta);
  CHECK(bad == 0);
  CHECK(touched == 0);
}

inline product random_product(std::mt19937& rng, bool ta, bool tb, std::int64_t max_m, std::int64_t max_n,
                       std::int64_t max_k) {
  auto pick = [&](std::int64_t hi) { return 1 + static_cast<std::int64_t>(rng() % hi); };
  product p{ta, tb, pick(max_m), pick(max_n), pick(max_k), 0, 0, 0, 1.0f, 0.0f};
  p.lda = (ta ? p.M : p.K) + static_cast<std::int64_t>(rng() % 3);
  p.ldb = (tb ? p.K : p.N) + static_cast<std::int64_t>(rng() % 3);
  p.ldc = p.N + static_cast<std::int64_t>(rng() % 3);
  const float alphas[] = {1.0f, 0.5f, -2.0f}, betas[] = {0.0f, 1.0f, -0.3f};
  p.alpha = alphas[rng() % 3];
  p.beta = betas[rng() % 3];
  return p;
}

}  // namespace gemm_check
