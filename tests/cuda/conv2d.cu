// CUDA conv2d op (im2col/col2im kernels + cuBLAS) against the cpu kernel: stride, padding, dilation, groups, 1×1,
// forward and backward (dx =, dw +=, dbias +=); and the Conv2d layer with backend cuda.
#include "vae/backend/cuda/conv2d.cuh"
#include "vae/layers/conv2d.hpp"

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

namespace {

// float32: each output is a sum of K = in_c/groups·k² ≤ 72 products (forward, dx) or of n·out_h·out_w ≤ ~600
// products (dw), in another order in cuBLAS than in the cpu GEMM; |values| ≲ √K·1 ≈ 10–25, a few float ulps each
// (≈ 1e-6 relative) add up to ≲ 1e-5 relative. atol 1e-4 / rtol 1e-4 (as the linear test) and any indexing error
// is of order 1. double: 1e-11.
template <class T>
double tol() { return std::is_same_v<T, float> ? 1e-4 : 1e-11; }

template <class T>
void check_conv2d(conv2d_dims d, generator& rng) {
  d.finish();
  const shape xs{d.n, d.in_c, d.in_h, d.in_w}, ws{d.out_c, d.in_c / d.groups, d.k_h, d.k_w},
      ys{d.n, d.out_c, d.out_h, d.out_w};
  const std::string label = cat("conv2d x", xs, " w", ws, " stride ", d.stride_h, "/", d.stride_w, " pad ", d.pad_h,
                                "/", d.pad_w, " dil ", d.dil_h, "/", d.dil_w, " groups ", d.groups);
  const auto x = random_tensor<T>(xs, rng), w = random_tensor<T>(ws, rng), b = random_tensor<T>({d.out_c}, rng);
  const auto dy = random_tensor<T>(ys, rng);
  auto dw = random_tensor<T>(ws, rng), db = random_tensor<T>({d.out_c}, rng);  // backward must ADD into these
  tensor<T> y(ys), dx(xs), scratch({ops::conv2d_scratch_size<cpu>(d)});
  const auto gx = to<cuda>(x), gw = to<cuda>(w), gb = to<cuda>(b), gdy = to<cuda>(dy);
  auto gdw = to<cuda>(dw), gdb = to<cuda>(db);
  tensor<T, cuda> gy(ys), gdx(xs), gscratch({ops::conv2d_scratch_size<cuda>(d)});

  ops::conv2d_forward<cpu>(d, x.data(), w.data(), b.data(), y.data(), scratch.data());
  ops::conv2d_forward<cuda>(d, gx.data(), gw.data(), gb.data(), gy.data(), gscratch.data());
  require_close(gy, y, label + " y", tol<T>(), tol<T>());
  ops::conv2d_backward<cpu>(d, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(), scratch.data());
  ops::conv2d_backward<cuda>(d, gx.data(), gw.data(), gdy.data(), gdx.data(), gdw.data(), gdb.data(),
                             gscratch.data());
  require_close(gdx, dx, label + " dx", tol<T>(), tol<T>());
  require_close(gdw, dw, label + " dw (+=)", tol<T>(), tol<T>());
  require_close(gdb, db, label + " dbias (+=)", tol<T>(), tol<T>());

  // Without bias, and dx only / dw only.
  ops::conv2d_forward<cpu>(d, x.data(), w.data(), (const T*)nullptr, y.data(), scratch.data());
  ops::conv2d_forward<cuda>(d, gx.data(), gw.data(), (const T*)nullptr, gy.data(), gscratch.data());
  require_close(gy, y, label + " y without bias", tol<T>(), tol<T>());
  ops::conv2d_backward<cpu>(d, x.data(), w.data(), dy.data(), (T*)nullptr, dw.data(), (T*)nullptr, scratch.data());
  ops::conv2d_backward<cuda>(d, gx.data(), gw.data(), gdy.data(), (T*)nullptr, gdw.data(), (T*)nullptr, gscratch.data());
  require_close(gdw, dw, label + " dw only", tol<T>(), tol<T>());
}

}  // namespace

TEST_CASE_TEMPLATE("cuda conv2d forward and backward match the cpu kernel", T, float, double) {
  generator rng(91);
  // {n, in_c, in_h, in_w, out_c, k_h, k_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups}
  check_conv2d<T>({2, 3, 9, 8, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1}, rng);   // 3×3 same padding
  check_conv2d<T>({3, 4, 12, 11, 6, 4, 4, 2, 2, 1, 1, 1, 1, 1}, rng); // 4×4 stride 2 (the VAE encoder's downsampling)
  check_conv2d<T>({2, 4, 10, 10, 8, 3, 2, 2, 1, 0, 2, 2, 1, 2}, rng); // rectangular, dilation, 2 groups
  check_conv2d<T>({2, 6, 5, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1, 6}, rng);   // depthwise
  check_conv2d<T>({4, 8, 6, 6, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1}, rng);   // 1×1
  check_conv2d<T>({1, 2, 7, 7, 3, 3, 3, 3, 3, 0, 0, 1, 1, 1}, rng);   // stride = kernel: non-overlapping windows
}

TEST_CASE("cuda conv2d: a batch whose columns exceed the scratch cap runs in chunks and matches the cpu kernel") {
  generator rng(94);
  // In double: the case checks the chunk loop's indexing; sums of 4,608 (forward) and 15,360 (dw) float products
  // would round past the float tolerances above, which are sized for the small cases' sums (the first GPU run
  // showed 3.5e-4 in y against the cpu's own float rounding).
  conv2d_dims d{60, 512, 16, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1};
  d.finish();
  REQUIRE(kernel<conv2d_op, cuda>::chunk(d) < d.n);  // else this case would not exercise the chunk loop
  check_conv2d<double>(d, rng);
}

TEST_CASE("Conv2d<float, cuda> is Conv2d<float, cpu> with one template argument changed") {
  generator rng_cpu(92), rng_cuda(92);
  Conv2d<float, cpu> host_layer(3, 8, 3, 2, 1);
  Conv2d<float, cuda> device_layer(3, 8, 3, 2, 1);
  parameter_store<float, cpu> host_store;
  parameter_store<float, cuda> device_store;
  host_store.attach(host_layer, rng_cpu, "conv.");
  device_store.attach(device_layer, rng_cuda, "conv.");
  generator data(93);
  const auto x = random_tensor<float>({2, 3, 16, 16}, data);
  const auto gx = to<cuda>(x);
  const auto& y = host_layer.forward(x);
  require_close(device_layer.forward(gx), y, "Conv2d forward", 1e-4, 1e-4);
  const auto dy = random_tensor<float>(y.shape(), data);
  require_close(device_layer.backward(to<cuda>(dy)), host_layer.backward(dy), "Conv2d dx", 1e-4, 1e-4);
  require_close(device_store.grad_tensor(), host_store.grad_tensor(), "Conv2d parameter gradients", 1e-4, 1e-4);
}
