// CUDA conv_transpose2d op (cuBLAS + col2im/im2col kernels) against the cpu kernel: stride, padding, output
// padding, dilation, groups, forward and backward (dx =, dw +=, dbias +=); and the ConvTranspose2d layer.
#include "vae/backend/cuda/conv_transpose2d.cuh"
#include "vae/layers/conv_transpose2d.hpp"

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

namespace {

// float32: each value is a sum of ≤ in_c/groups·k² (forward), out_c/groups·k² (dx) or n·in_h·in_w (dw) ≲ 600
// products, summed in another order by cuBLAS and by col2im than by the cpu; a few float ulps of values ≲ 25:
// atol 1e-4 / rtol 1e-4 (as the linear test); an indexing error is of order 1. double: 1e-11.
template <class T>
double convt_tol() { return std::is_same_v<T, float> ? 1e-4 : 1e-11; }

template <class T>
void check_conv_transpose2d(conv_transpose2d_dims d, generator& rng) {
  d.finish();
  const shape xs{d.n, d.in_c, d.in_h, d.in_w}, ws{d.in_c, d.out_c / d.groups, d.k_h, d.k_w},
      ys{d.n, d.out_c, d.out_h, d.out_w};
  const std::string label = cat("conv_transpose2d x", xs, " w", ws, " stride ", d.stride_h, "/", d.stride_w, " pad ",
                                d.pad_h, "/", d.pad_w, " out_pad ", d.out_pad_h, "/", d.out_pad_w, " dil ", d.dil_h,
                                "/", d.dil_w, " groups ", d.groups);
  const auto x = random_tensor<T>(xs, rng), w = random_tensor<T>(ws, rng), b = random_tensor<T>({d.out_c}, rng);
  const auto dy = random_tensor<T>(ys, rng);
  auto dw = random_tensor<T>(ws, rng), db = random_tensor<T>({d.out_c}, rng);
  tensor<T> y(ys), dx(xs), work({ops::conv_transpose2d_scratch_size<cpu>(d)});
  const auto gx = to<cuda>(x), gw = to<cuda>(w), gb = to<cuda>(b), gdy = to<cuda>(dy);
  auto gdw = to<cuda>(dw), gdb = to<cuda>(db);
  tensor<T, cuda> gy(ys), gdx(xs), gwork({ops::conv_transpose2d_scratch_size<cuda>(d)});

  ops::conv_transpose2d_forward<cpu>(d, x.data(), w.data(), b.data(), y.data(), work.data());
  ops::conv_transpose2d_forward<cuda>(d, gx.data(), gw.data(), gb.data(), gy.data(), gwork.data());
  require_close(gy, y, label + " y", convt_tol<T>(), convt_tol<T>());
  ops::conv_transpose2d_backward<cpu>(d, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(), work.data());
  ops::conv_transpose2d_backward<cuda>(d, gx.data(), gw.data(), gdy.data(), gdx.data(), gdw.data(), gdb.data(),
                                       gwork.data());
  require_close(gdx, dx, label + " dx", convt_tol<T>(), convt_tol<T>());
  require_close(gdw, dw, label + " dw (+=)", convt_tol<T>(), convt_tol<T>());
  require_close(gdb, db, label + " dbias (+=)", convt_tol<T>(), convt_tol<T>());

  ops::conv_transpose2d_forward<cpu>(d, x.data(), w.data(), (const T*)nullptr, y.data(), work.data());
  ops::conv_transpose2d_forward<cuda>(d, gx.data(), gw.data(), (const T*)nullptr, gy.data(), gwork.data());
  require_close(gy, y, label + " y without bias", convt_tol<T>(), convt_tol<T>());
  ops::conv_transpose2d_backward<cpu>(d, x.data(), w.data(), dy.data(), dx.data(), (T*)nullptr, (T*)nullptr,
                                      work.data());
  ops::conv_transpose2d_backward<cuda>(d, gx.data(), gw.data(), gdy.data(), gdx.data(), (T*)nullptr, (T*)nullptr,
                                       gwork.data());
  require_close(gdx, dx, label + " dx only", convt_tol<T>(), convt_tol<T>());
}

}  // namespace

TEST_CASE_TEMPLATE("cuda conv_transpose2d forward and backward match the cpu kernel", T, float, double) {
  generator rng(101);
  // {n, in_c, in_h, in_w, out_c, k_h, k_w, stride_h, stride_w, pad_h, pad_w, out_pad_h, out_pad_w, dil_h, dil_w,
  //  groups}
  check_conv_transpose2d<T>({2, 5, 6, 7, 3, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1, 1}, rng);  // the VAE decoder's 2× upsampling
  check_conv_transpose2d<T>({2, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1}, rng);  // stride 1, same size
  check_conv_transpose2d<T>({3, 4, 4, 6, 6, 3, 2, 3, 2, 1, 0, 2, 1, 1, 2, 2}, rng);  // output padding, dilation, groups
  check_conv_transpose2d<T>({2, 6, 5, 4, 8, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1}, rng);  // 1×1
}

TEST_CASE("cuda conv_transpose2d: a batch whose columns exceed the scratch cap runs in chunks and matches the cpu") {
  generator rng(104);
  // Many output channels, in double: the case checks the chunk loop's indexing (dw sums 16,640 products, dx 4,096:
  // past what the float tolerances above are sized for).
  conv_transpose2d_dims d{260, 16, 8, 8, 256, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1, 1};
  d.finish();
  REQUIRE(kernel<conv_transpose2d_op, cuda>::chunk(d) < d.n);  // else this case would not exercise the chunk loop
  check_conv_transpose2d<double>(d, rng);
}

TEST_CASE("ConvTranspose2d<float, cuda> is ConvTranspose2d<float, cpu> with one template argument changed") {
  generator rng_cpu(102), rng_cuda(102);
  ConvTranspose2d<float, cpu> host_layer(6, 3, 4, 2, 1);
  ConvTranspose2d<float, cuda> device_layer(6, 3, 4, 2, 1);
  parameter_store<float, cpu> host_store;
  parameter_store<float, cuda> device_store;
  host_store.attach(host_layer, rng_cpu, "deconv.");
  device_store.attach(device_layer, rng_cuda, "deconv.");
  generator data(103);
  const auto x = random_tensor<float>({2, 6, 7, 7}, data);
  // Layers keep a pointer to their input for backward: the device input must outlive the backward call.
  const auto gx = to<cuda>(x);
  const auto& y = host_layer.forward(x);
  require_close(device_layer.forward(gx), y, "ConvTranspose2d forward", 1e-4, 1e-4);
  const auto dy = random_tensor<float>(y.shape(), data);
  const auto gdy = to<cuda>(dy);
  require_close(device_layer.backward(gdy), host_layer.backward(dy), "ConvTranspose2d dx", 1e-4, 1e-4);
  require_close(device_store.grad_tensor(), host_store.grad_tensor(), "ConvTranspose2d parameter gradients", 1e-4,
                1e-4);
}
