// CUDA 2-d max pooling against the cpu kernel, forward (values and argmax) and backward, with padding, overlap,
// gaps and exact ties.
#include "vae/backend/cuda/max_pool2d.cuh"

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

// Exact: both pick the same element (first maximum in row-major window order) and add the same dy terms in output
// order, so values, argmax and dx are equal bit for bit.
TEST_CASE_TEMPLATE("cuda max_pool2d matches the cpu kernel exactly", T, float, double) {
  generator rng(83);
  for (auto d : {max_pool2d_dims{6, 8, 8, 2, 2, 0}, max_pool2d_dims{4, 7, 9, 3, 1, 1},
                 max_pool2d_dims{3, 11, 10, 2, 3, 0}, max_pool2d_dims{2, 9, 13, 3, 2, 1}}) {
    d.finish();
    const shape in{d.planes, d.h, d.w}, out{d.planes, d.out_h, d.out_w};
    auto x = random_tensor<T>(in, rng);
    if (d.kernel == 3 && d.stride == 2)  // integers: ties everywhere
      for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = std::round(x[i]);
    const auto dy = random_tensor<T>(out, rng);
    tensor<T> y(out), dx(in);
    tensor<std::int32_t> arg(out);
    tensor<T, cuda> gy(out), gdx(in);
    tensor<std::int32_t, cuda> garg(out);
    const auto gx = to<cuda>(x), gdy = to<cuda>(dy);
    const std::string label = cat("max_pool2d ", in, " k", d.kernel, " s", d.stride, " p", d.pad);
    ops::max_pool2d_forward<cpu>(d, x.data(), y.data(), arg.data());
    ops::max_pool2d_forward<cuda>(d, gx.data(), gy.data(), garg.data());
    require_close(gy, y, label + " forward", 0, 0);
    const auto harg = to<cpu>(garg);
    CHECK(std::equal(arg.data(), arg.data() + arg.numel(), harg.data()));
    ops::max_pool2d_backward<cpu>(d, dy.data(), arg.data(), dx.data());
    ops::max_pool2d_backward<cuda>(d, gdy.data(), garg.data(), gdx.data());
    require_close(gdx, dx, label + " backward", 0, 0);
  }
}
