// CUDA conv epilogues (backend/cuda/conv_fusion.cuh) against the cpu kernels' fused ones: ReLU / residual on the
// output, relu'(x) mask / residual on the input gradient, for conv2d and conv_transpose2d; the to_memory_format op.
#include "vae/backend/cuda/conv_fusion.cuh"
#include "vae/backend/cuda/conv_transpose2d.cuh"
#include "vae/backend/cuda/to_memory_format.cuh"
#include "vae/layers/conv2d.hpp"

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

namespace conv_fusion_test {
// Sums of ≤ 36 products in another order than the cpu GEMM: as tests/cuda/conv2d.cu.
constexpr double fusion_tol = 1e-4;
}  // namespace conv_fusion_test

TEST_CASE("cuda conv2d and conv_transpose2d epilogues match the cpu kernels' fused ones") {
  constexpr double ftol = conv_fusion_test::fusion_tol;
  generator rng(95);
  conv2d_dims d{2, 4, 7, 6, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1};
  d.finish();
  const shape xs{d.n, d.in_c, d.in_h, d.in_w}, ws{d.out_c, d.in_c, d.k_h, d.k_w}, ys{d.n, d.out_c, d.out_h, d.out_w};
  const auto x = random_tensor<float>(xs, rng), w = random_tensor<float>(ws, rng), b = random_tensor<float>({5}, rng);
  const auto dy = random_tensor<float>(ys, rng), res_y = random_tensor<float>(ys, rng);
  const auto res_x = random_tensor<float>(xs, rng);
  const auto gx = to<cuda>(x), gw = to<cuda>(w), gb = to<cuda>(b), gdy = to<cuda>(dy), gres_y = to<cuda>(res_y),
             gres_x = to<cuda>(res_x);
  tensor<float> y(ys), dx(xs), scratch({ops::conv2d_scratch_size<cpu>(d)});
  tensor<float, cuda> gy(ys), gdx(xs), gscratch({ops::conv2d_scratch_size<cuda>(d)});
  const auto f = memory_format::channels_first;
  for (const bool relu : {false, true}) {
    const conv_output<float> out{relu, relu ? nullptr : res_y.data()};
    const conv_output<float> gout{relu, relu ? nullptr : gres_y.data()};
    ops::conv2d_forward<cpu>(d, x.data(), w.data(), b.data(), y.data(), scratch.data(), f, out);
    ops::conv2d_forward<cuda>(d, gx.data(), gw.data(), gb.data(), gy.data(), gscratch.data(), f, gout);
    require_close(gy, y, relu ? "conv2d y, ReLU" : "conv2d y + residual", ftol, ftol);
    const conv_input_grad<float> in{relu, res_x.data()}, gin{relu, gres_x.data()};
    ops::conv2d_backward<cpu>(d, x.data(), w.data(), dy.data(), dx.data(), (float*)nullptr, (float*)nullptr,
                              scratch.data(), f, in);
    ops::conv2d_backward<cuda>(d, gx.data(), gw.data(), gdy.data(), gdx.data(), (float*)nullptr, (float*)nullptr,
                               gscratch.data(), f, gin);
    require_close(gdx, dx, relu ? "conv2d dx, ReLU input + residual" : "conv2d dx + residual", ftol, ftol);
  }
  // The transposed convolution from y's shape back to x's: the same epilogues.
  conv_transpose2d_dims t{2, 5, 7, 6, 4, 3, 3, 1, 1, 1, 1};
  t.finish();
  REQUIRE(t.out_h == d.in_h);
  const auto wt = random_tensor<float>({5, 4, 3, 3}, rng), bt = random_tensor<float>({4}, rng);
  const auto gwt = to<cuda>(wt), gbt = to<cuda>(bt);
  tensor<float> ty(xs), tdx(ys), tscratch({ops::conv_transpose2d_scratch_size<cpu>(t)});
  tensor<float, cuda> gty(xs), gtdx(ys), gtscratch({ops::conv_transpose2d_scratch_size<cuda>(t)});
  ops::conv_transpose2d_forward<cpu>(t, dy.data(), wt.data(), bt.data(), ty.data(), tscratch.data(), f,
                                     conv_output<float>{.relu = true});
  ops::conv_transpose2d_forward<cuda>(t, gdy.data(), gwt.data(), gbt.data(), gty.data(), gtscratch.data(), f,
                                      conv_output<float>{.relu = true});
  require_close(gty, ty, "conv_transpose2d y, ReLU", ftol, ftol);
  ops::conv_transpose2d_backward<cpu>(t, dy.data(), wt.data(), x.data(), tdx.data(), (float*)nullptr,
                                      (float*)nullptr, tscratch.data(), f,
                                      conv_input_grad<float>{.relu_input = true, .residual = res_y.data()});
  ops::conv_transpose2d_backward<cuda>(t, gdy.data(), gwt.data(), gx.data(), gtdx.data(), (float*)nullptr,
                                       (float*)nullptr, gtscratch.data(), f,
                                       conv_input_grad<float>{.relu_input = true, .residual = gres_y.data()});
  require_close(gtdx, tdx, "conv_transpose2d dx, ReLU input + residual", ftol, ftol);
}

TEST_CASE("cuda to_memory_format equals the cpu kernel's (exact) both ways; device convolutions refuse channels-last") {
  generator rng(96);
  const auto x = random_tensor<float>({3, 5, 4, 6}, rng);
  const auto gx = to<cuda>(x);
  tensor<float> last({3, 4, 6, 5}), back({3, 5, 4, 6});
  tensor<float, cuda> glast({3, 4, 6, 5}), gback({3, 5, 4, 6});
  ops::to_memory_format<cpu>(3, 5, 24, memory_format::channels_first, memory_format::channels_last, x.data(),
                             last.data());
  ops::to_memory_format<cuda>(3, 5, 24, memory_format::channels_first, memory_format::channels_last, gx.data(),
                              glast.data());
  require_close(glast, last, "to channels-last", 0.0, 0.0);
  ops::to_memory_format<cuda>(3, 5, 24, memory_format::channels_last, memory_format::channels_first, glast.data(),
                              gback.data());
  require_close(gback, x, "and back", 0.0, 0.0);

  conv2d_dims d{1, 2, 5, 5, 3, 3, 3};
  d.finish();
  tensor<float, cuda> y({1, 3, 3, 3}), s({ops::conv2d_scratch_size<cuda>(d)});
  CHECK_THROWS_WITH_AS(ops::conv2d_forward<cuda>(d, gx.data(), gx.data(), (const float*)nullptr, y.data(), s.data(),
                                                 memory_format::channels_last),
                       doctest::Contains("channels-last activations have no device kernel"), vae::error);
}
