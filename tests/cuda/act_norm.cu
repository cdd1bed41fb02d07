// CUDA ActNorm kernels against the cpu kernel: the data-dependent initialisation (once), forward, backward.
#include "vae/backend/cuda/act_norm.cuh"

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

TEST_CASE_TEMPLATE("cuda act_norm matches the cpu kernel", T, float, double) {
  // float32: sums in double on both sides, a different order; 1/(std + 1e-6) and the products round once more.
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  generator rng(241);
  const act_norm_dims d{3, 5, 37};
  const auto x = random_tensor<T>({3, 5, 37}, rng, 3.0), dy = random_tensor<T>({3, 5, 37}, rng);
  tensor<T> loc({5}, T(0)), scale({5}, T(1)), init({1}, T(0));
  auto gloc = to<cuda>(loc), gscale = to<cuda>(scale), ginit = to<cuda>(init);
  const auto gx = to<cuda>(x), gdy = to<cuda>(dy);
  ops::act_norm_initialize<cpu>(d, x.data(), loc.data(), scale.data(), init.data());
  ops::act_norm_initialize<cuda>(d, gx.data(), gloc.data(), gscale.data(), ginit.data());
  require_close(gloc, loc, "act_norm initial loc", tol, tol);
  require_close(gscale, scale, "act_norm initial scale", tol, tol);
  require_close(ginit, init, "act_norm initialized flag", 0.0, 0.0);
  // A second call on other data changes nothing (the flag is read on the device).
  const auto gother = to<cuda>(random_tensor<T>({3, 5, 37}, rng));
  ops::act_norm_initialize<cuda>(d, gother.data(), gloc.data(), gscale.data(), ginit.data());
  require_close(gloc, loc, "act_norm loc after a second batch", tol, tol);

  tensor<T> y(x.shape()), dx(x.shape()), dloc({5}, T(0.5)), dscale({5}, T(-0.25));
  tensor<T, cuda> gy(x.shape()), gdx(x.shape());
  auto gdloc = to<cuda>(dloc), gdscale = to<cuda>(dscale);
  ops::act_norm_forward<cpu>(d, x.data(), loc.data(), scale.data(), y.data());
  ops::act_norm_forward<cuda>(d, gx.data(), gloc.data(), gscale.data(), gy.data());
  require_close(gy, y, "act_norm forward", tol, tol);
  ops::act_norm_backward<cpu>(d, x.data(), loc.data(), scale.data(), dy.data(), dx.data(), dloc.data(), dscale.data());
  ops::act_norm_backward<cuda>(d, gx.data(), gloc.data(), gscale.data(), gdy.data(), gdx.data(), gdloc.data(),
                               gdscale.data());
  require_close(gdx, dx, "act_norm dx", tol, tol);
  require_close(gdloc, dloc, "act_norm dloc (accumulated)", tol, tol);
  require_close(gdscale, dscale, "act_norm dscale (accumulated)", tol, tol);
}
