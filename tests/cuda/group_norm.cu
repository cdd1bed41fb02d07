// CUDA group-norm kernel against the cpu kernel: forward (y, mean, rstd) and backward (dx, dweight +=, dbias +=).
#include "vae/backend/cuda/group_norm.cuh"

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

// Both kernels take the moments in double and apply them in T; they differ in the order of the double sums
// (negligible) and in the device's FMA contraction of (x − m)·scale + shift (≤ 1–2 float ulps of |y| ≲ 5).
// float32: atol 1e-5 / rtol 1e-5 (y, mean, rstd), dx and the parameter gradients (sums of ~1000 terms of size
// ~1, in double, then rounded) atol 1e-5 / rtol 1e-4. double: 1e-12. Any indexing error is of order 1.
template <class T>
void check_group_norm(const group_norm_dims& d, bool affine, generator& rng) {
  const bool is_float = std::is_same_v<T, float>;
  const double atol = is_float ? 1e-5 : 1e-12, rtol_f = is_float ? 1e-5 : 1e-12, rtol_b = is_float ? 1e-4 : 1e-12;
  const shape xs{d.batch, d.channels, d.spatial};
  // A non-zero mean and scale make the two-pass moments matter.
  auto x = random_tensor<T>(xs, rng, 3.0);
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] += T(2);
  const auto w = random_tensor<T>({d.channels}, rng), b = random_tensor<T>({d.channels}, rng);
  const auto dy = random_tensor<T>(xs, rng);
  auto dw = random_tensor<T>({d.channels}, rng), db = random_tensor<T>({d.channels}, rng);
  tensor<T> y(xs), mean({d.batch * d.groups}), rstd({d.batch * d.groups}), dx(xs);
  const auto gx = to<cuda>(x), gw = to<cuda>(w), gb = to<cuda>(b), gdy = to<cuda>(dy);
  auto gdw = to<cuda>(dw), gdb = to<cuda>(db);
  tensor<T, cuda> gy(xs), gmean({d.batch * d.groups}), grstd({d.batch * d.groups}), gdx(xs);
  const T* wp = affine ? w.data() : nullptr;
  const T* bp = affine ? b.data() : nullptr;
  const T* gwp = affine ? gw.data() : nullptr;
  const T* gbp = affine ? gb.data() : nullptr;
  ops::group_norm_forward<cpu>(d, 1e-5, x.data(), wp, bp, y.data(), mean.data(), rstd.data());
  ops::group_norm_forward<cuda>(d, 1e-5, gx.data(), gwp, gbp, gy.data(), gmean.data(), grstd.data());
  const std::string label = cat("group_norm ", xs, " groups ", d.groups, affine ? " affine" : "");
  require_close(gy, y, label + " y", atol, rtol_f);
  require_close(gmean, mean, label + " mean", atol, rtol_f);
  require_close(grstd, rstd, label + " rstd", atol, rtol_f);
  // Backward from the cpu's saved statistics, so dx is compared on identical inputs.
  const auto gmean_ref = to<cuda>(mean), grstd_ref = to<cuda>(rstd);
  ops::group_norm_backward<cpu>(d, x.data(), wp, mean.data(), rstd.data(), dy.data(), dx.data(),
                                affine ? dw.data() : nullptr, affine ? db.data() : nullptr);
  ops::group_norm_backward<cuda>(d, gx.data(), gwp, gmean_ref.data(), grstd_ref.data(), gdy.data(), gdx.data(),
                                 affine ? gdw.data() : nullptr, affine ? gdb.data() : nullptr);
  require_close(gdx, dx, label + " dx", atol, rtol_b);
  require_close(gdw, dw, label + " dweight (+=)", atol, rtol_b);
  require_close(gdb, db, label + " dbias (+=)", atol, rtol_b);
}

TEST_CASE_TEMPLATE("cuda group_norm forward and backward match the cpu kernel", T, float, double) {
  generator rng(61);
  check_group_norm<T>({3, 8, 4, 37}, true, rng);      // len 74 < one block of threads
  check_group_norm<T>({2, 12, 3, 300}, true, rng);    // len 1200: several elements per thread
  check_group_norm<T>({2, 6, 6, 25}, false, rng);     // one channel per group, no affine
  check_group_norm<T>({1, 32, 1, 1}, true, rng);      // one group, one element per channel
}
