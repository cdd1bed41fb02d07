// CUDA softmax / log-softmax kernels against the cpu kernel, forward and backward, including in-place calls.
#include "vae/backend/cuda/softmax.cuh"

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

namespace {

// float32: the device's expf/logf are within 2 ulps of glibc's (CUDA math guide), the sums are in double, so
// softmax (values ≤ 1) and the backward agree to a few ulps: atol 1e-6 / rtol 1e-5. log-softmax values reach
// ~−30 here (scale 5, up to 1000 columns), a float ulp of 30 is 2e-6: atol 1e-5 / rtol 1e-5. double: 1e-13.
template <class T>
void check_softmax(const softmax_dims& d, generator& rng) {
  const bool is_float = std::is_same_v<T, float>;
  const double atol = is_float ? 1e-6 : 1e-13, atol_log = is_float ? 1e-5 : 1e-13, rtol = is_float ? 1e-5 : 1e-13;
  const shape s{d.rows, d.cols};
  const auto x = random_tensor<T>(s, rng, 5.0), dy = random_tensor<T>(s, rng);
  const auto gx = to<cuda>(x), gdy = to<cuda>(dy);
  const std::string label = cat(s);

  tensor<T> y(s), dx(s);
  tensor<T, cuda> gy(s), gdx(s);
  ops::softmax_forward<cpu>(d, x.data(), y.data());
  ops::softmax_forward<cuda>(d, gx.data(), gy.data());
  require_close(gy, y, "softmax forward " + label, atol, rtol);
  const auto gy_ref = to<cuda>(y);
  ops::softmax_backward<cpu>(d, y.data(), dy.data(), dx.data());
  ops::softmax_backward<cuda>(d, gy_ref.data(), gdy.data(), gdx.data());
  require_close(gdx, dx, "softmax backward " + label, atol, rtol);

  ops::log_softmax_forward<cpu>(d, x.data(), y.data());
  ops::log_softmax_forward<cuda>(d, gx.data(), gy.data());
  require_close(gy, y, "log_softmax forward " + label, atol_log, rtol);
  const auto gly_ref = to<cuda>(y);
  ops::log_softmax_backward<cpu>(d, y.data(), dy.data(), dx.data());
  ops::log_softmax_backward<cuda>(d, gly_ref.data(), gdy.data(), gdx.data());
  require_close(gdx, dx, "log_softmax backward " + label, atol, rtol);

  // In place (y aliases x, dx aliases dy), as the op allows.
  auto inplace = to<cuda>(x);
  ops::softmax_forward<cuda>(d, inplace.data(), inplace.data());
  ops::softmax_forward<cpu>(d, x.data(), y.data());
  require_close(inplace, y, "softmax forward in place " + label, atol, rtol);
  auto g_inplace = to<cuda>(dy);
  const auto gy_ref2 = to<cuda>(y);
  ops::softmax_backward<cpu>(d, y.data(), dy.data(), dx.data());
  ops::softmax_backward<cuda>(d, gy_ref2.data(), g_inplace.data(), g_inplace.data());
  require_close(g_inplace, dx, "softmax backward in place " + label, atol, rtol);
}

}  // namespace

TEST_CASE_TEMPLATE("cuda softmax and log_softmax match the cpu kernel", T, float, double) {
  generator rng(64);
  check_softmax<T>({33, 10}, rng);    // fewer columns than threads
  check_softmax<T>({7, 1000}, rng);   // several columns per thread
  check_softmax<T>({5, 1}, rng);      // one column: softmax 1, log-softmax 0
}

TEST_CASE("cuda softmax tensor form resizes the output and rejects an empty input") {
  generator rng(65);
  const auto x = random_tensor<float>({2, 3, 17}, rng);
  tensor<float> y;
  tensor<float, cuda> gy;
  ops::softmax(x, y);
  ops::softmax(to<cuda>(x), gy);
  require_close(gy, y, "softmax tensor form", 1e-6, 1e-5);
  tensor<float, cuda> empty({0, 4});
  CHECK_THROWS_WITH_AS(ops::softmax(empty, gy), doctest::Contains("non-empty"), vae::error);
}
