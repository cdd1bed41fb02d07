// Batched matrix product: every transpose combination against plain loops (double and float), alpha/beta, the
// parallel-over-batch path, k = 0, and bad sizes.
#include "vae/ops/batched_matmul.hpp"

#include "vae/core/parameters.hpp"  // test_support.hpp uses parameter<T> without including it

#include "../test_support.hpp"

using namespace vae;

namespace batched_matmul_test {
// C[b] = alpha · op(A[b]) op(B[b]) + beta · C[b] by plain loops in double.
template <class T>
std::vector<double> reference(const batched_matmul_dims& d, double alpha, const tensor<T>& a, const tensor<T>& b,
                              double beta, const tensor<T>& c) {
  std::vector<double> out(static_cast<std::size_t>(d.batch * d.m * d.n));
  for (std::int64_t p = 0; p < d.batch; ++p)
    for (std::int64_t i = 0; i < d.m; ++i)
      for (std::int64_t j = 0; j < d.n; ++j) {
        double s = 0;
        for (std::int64_t l = 0; l < d.k; ++l) {
          const double av = a[p * d.m * d.k + (d.trans_a ? l * d.m + i : i * d.k + l)];
          const double bv = b[p * d.k * d.n + (d.trans_b ? j * d.k + l : l * d.n + j)];
          s += av * bv;
        }
        const std::int64_t o = p * d.m * d.n + i * d.n + j;
        out[static_cast<std::size_t>(o)] = alpha * s + (beta == 0 ? 0.0 : beta * c[o]);
      }
  return out;
}

template <class T>
void check_case(batched_matmul_dims d, double alpha, double beta, generator& rng, double tol) {
  const auto a = test::random_tensor<T>({d.batch, d.m * d.k}, rng);
  const auto b = test::random_tensor<T>({d.batch, d.k * d.n}, rng);
  auto c = test::random_tensor<T>({d.batch, d.m * d.n}, rng);
  const auto expected = reference(d, alpha, a, b, beta, c);
  ops::batched_matmul<cpu>(d, static_cast<T>(alpha), a.data(), b.data(), static_cast<T>(beta), c.data());
  const auto r = testing::compare(c.data(), expected.data(), c.numel(), tol, tol);
  INFO("batch " << d.batch << " m " << d.m << " n " << d.n << " k " << d.k << " trans " << d.trans_a << d.trans_b
                << ": " << r.summary("C"));
  CHECK(r.ok);
}
}  // namespace batched_matmul_test

TEST_CASE_TEMPLATE("batched_matmul matches plain loops for every transpose combination", T, double, float) {
  generator rng(7);
  const double tol = std::is_same_v<T, double> ? 1e-12 : 1e-5;
  for (const bool ta : {false, true})
    for (const bool tb : {false, true}) {
      batched_matmul_test::check_case<T>({3, 5, 7, 4, ta, tb}, 1.0, 0.0, rng, tol);
      batched_matmul_test::check_case<T>({2, 6, 3, 9, ta, tb}, 0.5, 1.0, rng, tol);     // accumulate into C
      batched_matmul_test::check_case<T>({64, 4, 5, 3, ta, tb}, -2.0, 0.25, rng, tol);  // parallel over the batch
    }
}

TEST_CASE("batched_matmul with k = 0 scales C by beta and rejects negative sizes") {
  generator rng(8);
  batched_matmul_test::check_case<double>({2, 3, 4, 0, false, false}, 1.0, 0.5, rng, 0.0);
  tensor<double> c({2, 3, 4}, 1.0);
  ops::batched_matmul<cpu>(batched_matmul_dims{2, 3, 4, 0}, 1.0, c.data(), c.data(), 0.0, c.data());
  for (std::int64_t i = 0; i < c.numel(); ++i) CHECK(c[i] == 0.0);
  CHECK_THROWS_WITH_AS(ops::batched_matmul<cpu>(batched_matmul_dims{-1, 3, 4, 2}, 1.0, c.data(), c.data(), 0.0,
                                                c.data()),
                       doctest::Contains("non-negative"), vae::error);
}
