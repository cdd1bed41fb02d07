// CUDA zero padding against the cpu kernel, forward and backward (exact: both only copy).
#include "vae/backend/cuda/pad2d.cuh"

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

TEST_CASE("cuda pad2d matches the cpu kernel exactly") {
  generator rng(221);
  for (const pad2d_dims d : {pad2d_dims{6, 4, 5, 0, 1, 0, 1}, pad2d_dims{2, 3, 2, 2, 1, 3, 0}}) {
    const auto x = random_tensor<float>({d.planes, d.h, d.w}, rng);
    tensor<float> y({d.planes, d.out_h(), d.out_w()});
    tensor<float, cuda> gy({d.planes, d.out_h(), d.out_w()});
    ops::pad2d_forward<cpu>(d, x.data(), y.data());
    ops::pad2d_forward<cuda>(d, to<cuda>(x).data(), gy.data());
    require_close(gy, y, "pad2d forward", 0.0, 0.0);
    const auto dy = random_tensor<float>(y.shape(), rng);
    tensor<float> dx(x.shape());
    tensor<float, cuda> gdx(x.shape());
    ops::pad2d_backward<cpu>(d, dy.data(), dx.data());
    ops::pad2d_backward<cuda>(d, to<cuda>(dy).data(), gdx.data());
    require_close(gdx, dx, "pad2d backward", 0.0, 0.0);
  }
}
