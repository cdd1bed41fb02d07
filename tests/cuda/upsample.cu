// CUDA nearest upsampling against the cpu kernel, forward and backward, for several scales.
#include "vae/backend/cuda/upsample.cuh"

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

// The forward copies values; the backward adds the s×s block in the same order as the cpu kernel (additions only,
// nothing to contract into an FMA), so both are compared exactly (atol = rtol = 0).
TEST_CASE_TEMPLATE("cuda upsample_nearest matches the cpu kernel exactly", T, float, double) {
  generator rng(81);
  for (const upsample_dims d : {upsample_dims{6, 5, 7, 2}, upsample_dims{3, 4, 4, 3}, upsample_dims{2, 9, 1, 1}}) {
    const std::int64_t oh = d.h * d.scale, ow = d.w * d.scale;
    const auto x = random_tensor<T>({d.planes, d.h, d.w}, rng), dy = random_tensor<T>({d.planes, oh, ow}, rng);
    tensor<T> y({d.planes, oh, ow}), dx({d.planes, d.h, d.w});
    tensor<T, cuda> gy({d.planes, oh, ow}), gdx({d.planes, d.h, d.w});
    const auto gx = to<cuda>(x), gdy = to<cuda>(dy);
    ops::upsample_nearest_forward<cpu>(d, x.data(), y.data());
    ops::upsample_nearest_forward<cuda>(d, gx.data(), gy.data());
    require_close(gy, y, cat("upsample forward scale ", d.scale), 0.0, 0.0);
    ops::upsample_nearest_backward<cpu>(d, dy.data(), dx.data());
    ops::upsample_nearest_backward<cuda>(d, gdy.data(), gdx.data());
    require_close(gdx, dx, cat("upsample backward scale ", d.scale), 0.0, 0.0);
  }
}
