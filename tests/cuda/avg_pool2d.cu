// CUDA 2-d average pooling against the cpu kernel, forward and backward, with padding, overlap and gaps.
#include "vae/backend/cuda/avg_pool2d.cuh"

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

// Forward: the same additions in the same order, then one multiply. Backward: the cpu adds dy·(1/k²) per window,
// the device gathers the same terms (same window order) and may fuse multiply and add (FMA): ≤ a few float ulps
// of |dx| ≲ 1. float atol 1e-6 / rtol 1e-5, double 1e-14 / 1e-13.
TEST_CASE_TEMPLATE("cuda avg_pool2d matches the cpu kernel", T, float, double) {
  const double atol = std::is_same_v<T, float> ? 1e-6 : 1e-14, rtol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
  generator rng(82);
  // {planes, h, w, kernel, stride, pad}: non-overlapping 2×2, overlapping 3×3/1 with padding, stride > kernel
  // (inputs in no window get dx = 0), odd sizes with padding.
  for (auto d : {avg_pool2d_dims{6, 8, 8, 2, 2, 0}, avg_pool2d_dims{4, 7, 9, 3, 1, 1},
                 avg_pool2d_dims{3, 11, 10, 2, 3, 0}, avg_pool2d_dims{2, 9, 13, 3, 2, 1}}) {
    d.finish();
    const shape in{d.planes, d.h, d.w}, out{d.planes, d.out_h, d.out_w};
    const auto x = random_tensor<T>(in, rng), dy = random_tensor<T>(out, rng);
    tensor<T> y(out), dx(in);
    tensor<T, cuda> gy(out), gdx(in);
    const auto gx = to<cuda>(x), gdy = to<cuda>(dy);
    const std::string label = cat("avg_pool2d ", in, " k", d.kernel, " s", d.stride, " p", d.pad);
    ops::avg_pool2d_forward<cpu>(d, x.data(), y.data());
    ops::avg_pool2d_forward<cuda>(d, gx.data(), gy.data());
    require_close(gy, y, label + " forward", atol, rtol);
    ops::avg_pool2d_backward<cpu>(d, dy.data(), dx.data());
    ops::avg_pool2d_backward<cuda>(d, gdy.data(), gdx.data());
    require_close(gdx, dx, label + " backward", atol, rtol);
  }
}
