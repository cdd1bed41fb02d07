// CUDA layer-norm kernel against the cpu kernel: forward (y, mean, rstd) and backward (dx, dweight +=, dbias +=).
#include "vae/backend/cuda/layer_norm.cuh"

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

// Same arithmetic as the cpu kernel (moments in double, applied in T); differences: the order of the double sums
// (negligible) and the device's FMA contraction (≤ 1–2 float ulps of |y| ≲ 5). float32: atol 1e-5 / rtol 1e-5
// forward, atol 1e-5 / rtol 1e-4 backward (parameter gradients sum ~100 rows, in double). double: 1e-12.
template <class T>
void check_layer_norm(const layer_norm_dims& d, bool affine, generator& rng) {
  const bool is_float = std::is_same_v<T, float>;
  const double atol = is_float ? 1e-5 : 1e-12, rtol_f = is_float ? 1e-5 : 1e-12, rtol_b = is_float ? 1e-4 : 1e-12;
  const shape xs{d.rows, d.features};
  auto x = random_tensor<T>(xs, rng, 3.0);
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] -= T(1.5);
  const auto w = random_tensor<T>({d.features}, rng), b = random_tensor<T>({d.features}, rng);
  const auto dy = random_tensor<T>(xs, rng);
  auto dw = random_tensor<T>({d.features}, rng), db = random_tensor<T>({d.features}, rng);
  tensor<T> y(xs), mean({d.rows}), rstd({d.rows}), dx(xs);
  const auto gx = to<cuda>(x), gw = to<cuda>(w), gb = to<cuda>(b), gdy = to<cuda>(dy);
  auto gdw = to<cuda>(dw), gdb = to<cuda>(db);
  tensor<T, cuda> gy(xs), gmean({d.rows}), grstd({d.rows}), gdx(xs);
  const T* wp = affine ? w.data() : nullptr;
  const T* bp = affine ? b.data() : nullptr;
  const T* gwp = affine ? gw.data() : nullptr;
  const T* gbp = affine ? gb.data() : nullptr;
  ops::layer_norm_forward<cpu>(d, 1e-5, x.data(), wp, bp, y.data(), mean.data(), rstd.data());
  ops::layer_norm_forward<cuda>(d, 1e-5, gx.data(), gwp, gbp, gy.data(), gmean.data(), grstd.data());
  const std::string label = cat("layer_norm ", xs, affine ? " affine" : "");
  require_close(gy, y, label + " y", atol, rtol_f);
  require_close(gmean, mean, label + " mean", atol, rtol_f);
  require_close(grstd, rstd, label + " rstd", atol, rtol_f);
  const auto gmean_ref = to<cuda>(mean), grstd_ref = to<cuda>(rstd);
  ops::layer_norm_backward<cpu>(d, x.data(), wp, mean.data(), rstd.data(), dy.data(), dx.data(),
                                affine ? dw.data() : nullptr, affine ? db.data() : nullptr);
  ops::layer_norm_backward<cuda>(d, gx.data(), gwp, gmean_ref.data(), grstd_ref.data(), gdy.data(), gdx.data(),
                                 affine ? gdw.data() : nullptr, affine ? gdb.data() : nullptr);
  require_close(gdx, dx, label + " dx", atol, rtol_b);
  require_close(gdw, dw, label + " dweight (+=)", atol, rtol_b);
  require_close(gdb, db, label + " dbias (+=)", atol, rtol_b);
}

TEST_CASE_TEMPLATE("cuda layer_norm forward and backward match the cpu kernel", T, float, double) {
  generator rng(62);
  check_layer_norm<T>({37, 64}, true, rng);     // fewer features than threads
  check_layer_norm<T>({9, 1000}, true, rng);    // several features per thread
  check_layer_norm<T>({300, 20}, false, rng);   // no affine; parameter-gradient kernel skipped
  check_layer_norm<T>({5, 1}, true, rng);       // one feature: x̂ = 0
}
