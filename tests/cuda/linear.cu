// CUDA linear op (cuBLAS + bias kernels) against the cpu reference: GEMM transposition cases, op, layer, store.
#include "vae/backend/cuda/linear.cuh"
#include "vae/layers/linear.hpp"

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

// float32: products of K ≈ 50–100 terms summed in a different order by cuBLAS and Eigen; |values| ≈ √K ≈ 10,
// so a few float ulps of 10 (≈ 1e-6 each) add up to ~1e-5; atol 1e-4 / rtol 1e-4 leaves a 10× margin and
// still catches any wrong index (errors of order 1).
constexpr double f_atol = 1e-4, f_rtol = 1e-4;
constexpr double d_atol = 1e-12, d_rtol = 1e-12;

TEST_CASE_TEMPLATE("cuda gemm matches cpu_detail::gemm for every transposition and leading dimension", T, float,
                   double) {
  const double atol = std::is_same_v<T, float> ? f_atol : d_atol, rtol = std::is_same_v<T, float> ? f_rtol : d_rtol;
  generator rng(11);
  const std::int64_t M = 37, N = 29, K = 53, pad = 3;
  for (const bool ta : {false, true})
    for (const bool tb : {false, true}) {
      const std::int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
      const auto A = random_tensor<T>({ta ? K : M, lda}, rng);
      const auto B = random_tensor<T>({tb ? N : K, ldb}, rng);
      auto C = random_tensor<T>({M, ldc}, rng);
      auto dA = to<cuda>(A), dB = to<cuda>(B);
      auto dC = to<cuda>(C);
      const T alpha = T(0.75), beta = T(-0.5);
      cpu_detail::gemm<T>(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
      cuda_detail::gemm<T>(ta, tb, M, N, K, alpha, dA.data(), lda, dB.data(), ldb, beta, dC.data(), ldc);
      require_close(dC, C, cat("gemm trans_a=", ta, " trans_b=", tb), atol, rtol);
    }
}

TEST_CASE("cuda gemm with K = 0 scales C by beta, like the cpu") {
  generator rng(12);
  auto C = random_tensor<float>({4, 5}, rng);
  auto dC = to<cuda>(C);
  cpu_detail::gemm<float>(false, false, 4, 5, 0, 1.f, nullptr, 1, nullptr, 5, 0.5f, C.data(), 5);
  cuda_detail::gemm<float>(false, false, 4, 5, 0, 1.f, nullptr, 1, nullptr, 5, 0.5f, dC.data(), 5);
  require_close(dC, C, "gemm K=0", 0.0, 0.0);
}

TEST_CASE_TEMPLATE("cuda linear op forward and backward match the cpu kernel", T, float, double) {
  const double atol = std::is_same_v<T, float> ? f_atol : d_atol, rtol = std::is_same_v<T, float> ? f_rtol : d_rtol;
  generator rng(13);
  for (const bool with_bias : {true, false}) {
    const linear_dims d{19, 67, 41};
    const auto x = random_tensor<T>({d.rows, d.in}, rng), w = random_tensor<T>({d.out, d.in}, rng);
    const auto b = random_tensor<T>({d.out}, rng), dy = random_tensor<T>({d.rows, d.out}, rng);
    // Gradients start non-zero: backward must ADD into dw and dbias.
    auto dw = random_tensor<T>({d.out, d.in}, rng), db = random_tensor<T>({d.out}, rng);
    tensor<T> y({d.rows, d.out}), dx({d.rows, d.in});
    auto gx = to<cuda>(x), gw = to<cuda>(w), gb = to<cuda>(b), gdy = to<cuda>(dy), gdw = to<cuda>(dw),
         gdb = to<cuda>(db);
    tensor<T, cuda> gy({d.rows, d.out}), gdx({d.rows, d.in});

    ops::linear_forward<cpu>(d, x.data(), w.data(), with_bias ? b.data() : nullptr, y.data());
    ops::linear_forward<cuda>(d, gx.data(), gw.data(), with_bias ? gb.data() : nullptr, gy.data());
    require_close(gy, y, cat("linear forward bias=", with_bias), atol, rtol);

    ops::linear_backward<cpu>(d, x.data(), w.data(), dy.data(), dx.data(), dw.data(), with_bias ? db.data() : nullptr);
    ops::linear_backward<cuda>(d, gx.data(), gw.data(), gdy.data(), gdx.data(), gdw.data(),
                               with_bias ? gdb.data() : nullptr);
    require_close(gdx, dx, "linear dx", atol, rtol);
    require_close(gdw, dw, "linear dw (+=)", atol, rtol);
    require_close(gdb, db, "linear dbias (+=)", atol, rtol);
  }
}

TEST_CASE("Linear<float, cuda> is Linear<float, cpu> with one template argument changed") {
  generator rng_cpu(14), rng_cuda(14);
  Linear<float, cpu> host_layer(33, 17);
  Linear<float, cuda> device_layer(33, 17);
  parameter_store<float, cpu> host_store;
  parameter_store<float, cuda> device_store;
  host_store.attach(host_layer, rng_cpu, "fc.");
  device_store.attach(device_layer, rng_cuda, "fc.");
  // Initial values are drawn on the host for every backend, so the two stores start bit-identical.
  require_close(device_store.value_tensor(), host_store.value_tensor(), "store initial values", 0.0, 0.0);
  require_close(device_store.grad_tensor(), host_store.grad_tensor(), "store zero gradients", 0.0, 0.0);

  generator data(15);
  const auto x = random_tensor<float>({2, 3, 33}, data), dy = random_tensor<float>({2, 3, 17}, data);
  const auto gx = to<cuda>(x), gdy = to<cuda>(dy);
  require_close(device_layer.forward(gx), host_layer.forward(x), "Linear forward", f_atol, f_rtol);
  require_close(device_layer.backward(gdy), host_layer.backward(dy), "Linear dx", f_atol, f_rtol);
  require_close(device_store.grad_tensor(), host_store.grad_tensor(), "Linear parameter gradients", f_atol, f_rtol);
}

TEST_CASE("Linear<float, cuda> reports a wrong input width with the shapes") {
  generator rng(16);
  Linear<float, cuda> layer(4, 3);
  parameter_store<float, cuda> store;
  store.attach(layer, rng);
  tensor<float, cuda> x({2, 5}, 0.f);
  CHECK_THROWS_WITH_AS(layer.forward(x), doctest::Contains("expected input [..., 4], got [2, 5]"), vae::error);
}
