// CUDA batched matrix product (cuBLAS strided-batched) against the cpu kernel: every transpose combination,
// alpha/beta accumulation, k = 0.
#include "vae/backend/cuda/batched_matmul.cuh"

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

namespace {

// float32: cuBLAS and the cpu GEMM sum the k products in different orders (and cuBLAS may use FMA): atol 1e-5 /
// rtol 1e-5 for k ≤ 20 products of unit normals. double: 1e-12.
template <class T>
void check_bmm(const batched_matmul_dims& d, double alpha, double beta, generator& rng) {
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  const auto a = random_tensor<T>({d.batch, d.m * d.k}, rng), b = random_tensor<T>({d.batch, d.k * d.n}, rng);
  auto c = random_tensor<T>({d.batch, d.m, d.n}, rng);
  auto gc = to<cuda>(c);
  const auto ga = to<cuda>(a), gb = to<cuda>(b);
  ops::batched_matmul<cpu>(d, static_cast<T>(alpha), a.data(), b.data(), static_cast<T>(beta), c.data());
  ops::batched_matmul<cuda>(d, static_cast<T>(alpha), ga.data(), gb.data(), static_cast<T>(beta), gc.data());
  require_close(gc, c, cat("batched_matmul ", d.batch, "x", d.m, "x", d.n, "x", d.k, " trans ", d.trans_a, d.trans_b),
                tol, tol);
}

}  // namespace

TEST_CASE_TEMPLATE("cuda batched_matmul matches the cpu kernel", T, float, double) {
  generator rng(211);
  for (const bool ta : {false, true})
    for (const bool tb : {false, true}) {
      check_bmm<T>({3, 5, 7, 4, ta, tb}, 1.0, 0.0, rng);
      check_bmm<T>({4, 12, 12, 20, ta, tb}, 0.25, 1.0, rng);  // an attention block's score shapes, accumulated
    }
  check_bmm<T>({2, 3, 4, 0, false, false}, 1.0, 0.5, rng);  // k = 0: C = beta · C
}
