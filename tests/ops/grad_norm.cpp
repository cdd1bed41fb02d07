// grad_norm op on the cpu: Σ g² against a serial double sum for every thread count, exact scaling, the finite test.
#include "vae/ops/grad_norm.hpp"

#include <cmath>
#include <limits>

#include "../test_support.hpp"

using namespace vae;

TEST_CASE("grad_sum_of_squares: Σ g² in double, the same value on one thread and on all") {
  generator rng(4);
  auto g = test::random_tensor<float>({3 * 8192 + 17}, rng);  // several optimizer chunks and a partial one
  double serial = 0;
  for (std::int64_t i = 0; i < g.numel(); ++i) serial += double(g[i]) * double(g[i]);
  const double all = ops::grad_sum_of_squares<cpu>(g.numel(), g.data());
  CHECK(all == doctest::Approx(serial).epsilon(1e-12));
#if defined(_OPENMP)
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const double one = ops::grad_sum_of_squares<cpu>(g.numel(), g.data());
  omp_set_num_threads(threads);
  CHECK(one == all);
#endif
  CHECK(ops::grad_sum_of_squares<cpu>(0, g.data()) == 0.0);
}

TEST_CASE_TEMPLATE("grad_scale: g ← c·g exactly, in T", T, float, double) {
  generator rng(5);
  auto g = test::random_tensor<T>({1000}, rng);
  const tensor<T> before = g;
  const T c = static_cast<T>(1.0 / 3.0);
  ops::grad_scale<cpu>(g.numel(), c, g.data());
  std::int64_t equal = 0;
  for (std::int64_t i = 0; i < g.numel(); ++i) equal += g[i] == before[i] * c;
  CHECK(equal == g.numel());
}

TEST_CASE_TEMPLATE("grad_all_finite: false for one NaN or ±inf anywhere, true otherwise", T, float, double) {
  generator rng(6);
  auto g = test::random_tensor<T>({257}, rng);
  CHECK(ops::grad_all_finite<cpu>(g.numel(), g.data()));
  CHECK(ops::grad_all_finite<cpu>(0, g.data()));
  for (const T bad : {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity(),
                      -std::numeric_limits<T>::infinity()}) {
    const T keep = g[200];
    g[200] = bad;
    CHECK_FALSE(ops::grad_all_finite<cpu>(g.numel(), g.data()));
    CHECK(ops::grad_all_finite<cpu>(200, g.data()));  // the range before it
    g[200] = keep;
  }
}
