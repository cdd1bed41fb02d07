// The VQ-GAN building blocks with backend cuda against the same layers with backend cpu: forward, dx and every
// parameter gradient, one template argument changed (AttnBlock, ResnetBlock, ConvDownsample, ConvUpsample).
#include "vae/layers/attn_block.hpp"
#include "vae/layers/conv_downsample.hpp"
#include "vae/layers/conv_upsample.hpp"
#include "vae/layers/resnet_block.hpp"

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

namespace {

// float32: cuDNN-free convolutions and cuBLAS against the cpu GEMM differ in summation order; the blocks chain
// GroupNorm, convolutions and a softmax, so the comparison uses the whole-layer tolerance of tests/cuda/layers.cu.
constexpr double vqgan_atol = 1e-5, vqgan_rtol = 1e-4;

template <class Host, class Device>
void check_vqgan_layer(const std::string& name, Host& host, Device& device, const shape& xs) {
  generator rng_cpu(231), rng_cuda(231);
  parameter_store<float, cpu> host_store;
  parameter_store<float, cuda> device_store;
  host_store.attach(host, rng_cpu, "m.");
  device_store.attach(device, rng_cuda, "m.");
  generator data(232);
  const auto x = random_tensor<float>(xs, data);
  const auto gx = to<cuda>(x);
  const auto& y = host.forward(x);
  require_close(device.forward(gx), y, name + " forward", vqgan_atol, vqgan_rtol);
  const auto dy = random_tensor<float>(y.shape(), data);
  const auto gdy = to<cuda>(dy);
  require_close(device.backward(gdy), host.backward(dy), name + " dx", vqgan_atol, vqgan_rtol);
  require_close(device_store.grad_tensor(), host_store.grad_tensor(), name + " parameter gradients", vqgan_atol,
                vqgan_rtol);
}

}  // namespace

TEST_CASE("AttnBlock, ResnetBlock, ConvDownsample, ConvUpsample: cuda matches cpu") {
  {
    AttnBlock<float, cpu> h(32);
    AttnBlock<float, cuda> d(32);
    check_vqgan_layer("AttnBlock", h, d, {2, 32, 4, 3});
  }
  {
    ResnetBlock<float, cpu> h(32, 64);
    ResnetBlock<float, cuda> d(32, 64);
    check_vqgan_layer("ResnetBlock", h, d, {2, 32, 5, 4});
  }
  {
    ConvDownsample<float, cpu> h(4);
    ConvDownsample<float, cuda> d(4);
    check_vqgan_layer("ConvDownsample", h, d, {2, 4, 6, 8});
  }
  {
    ConvUpsample<float, cpu> h(4);
    ConvUpsample<float, cuda> d(4);
    check_vqgan_layer("ConvUpsample", h, d, {2, 4, 3, 5});
  }
}

TEST_CASE("ResnetBlock<float, cuda> refuses dropout > 0 (Dropout is host-only)") {
  using device_block = ResnetBlock<float, cuda>;
  CHECK_THROWS_WITH_AS(device_block(8, 8, 0.1, 4), doctest::Contains("needs a host backend"), vae::error);
}
