// The VQ-GAN building blocks with backend cuda against the same layers with backend cpu: forward, dx and every
// parameter gradient, one template argument changed (AttnBlock, ResnetBlock, ConvDownsample, ConvUpsample, ActNorm,
// VQGANEncoder, VQGANDecoder, PatchDiscriminator with BatchNorm2d and ActNorm).
#include "vae/adversarial/patch_discriminator.hpp"
#include "vae/decoders/vqgan_decoder.hpp"
#include "vae/encoders/vqgan_encoder.hpp"
#include "vae/layers/act_norm.hpp"
#include "vae/layers/attn_block.hpp"
#include "vae/layers/conv_downsample.hpp"
#include "vae/layers/conv_upsample.hpp"
#include "vae/layers/resnet_block.hpp"

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

namespace {

// float32 (the single blocks): cuBLAS and the device kernels against the cpu GEMM and kernels differ in summation
// order; the blocks chain GroupNorm, convolutions and a softmax: the whole-layer tolerance of tests/cuda/layers.cu.
// double (the stacks: encoder, decoder, discriminator, whose early parameter gradients sum float rounding over every
// position through many norms): 1e-9, where an indexing error would be of order 1.
template <class Host, class Device>
void check_vqgan_layer(const std::string& name, Host& host, Device& device, const shape& xs) {
  using T = typename Host::value_type;
  const double atol = std::is_same_v<T, float> ? 1e-5 : 1e-9, rtol = std::is_same_v<T, float> ? 1e-4 : 1e-9;
  generator rng_cpu(231), rng_cuda(231);
  parameter_store<T, cpu> host_store;
  parameter_store<T, cuda> device_store;
  host_store.attach(host, rng_cpu, "m.");
  device_store.attach(device, rng_cuda, "m.");
  generator data(232);
  const auto x = random_tensor<T>(xs, data);
  const auto gx = to<cuda>(x);
  const auto& y = host.forward(x);
  require_close(device.forward(gx), y, name + " forward", atol, rtol);
  const auto dy = random_tensor<T>(y.shape(), data);
  const auto gdy = to<cuda>(dy);
  require_close(device.backward(gdy), host.backward(dy), name + " dx", atol, rtol);
  require_close(device_store.grad_tensor(), host_store.grad_tensor(), name + " parameter gradients", atol, rtol);
  // Buffers after the step (BatchNorm2d's running statistics, ActNorm's initialised loc/scale and flag).
  require_close(device_store.value_tensor(), host_store.value_tensor(), name + " values after the step", atol, rtol);
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

TEST_CASE("ActNorm (float), VQGANEncoder, VQGANDecoder, PatchDiscriminator (double): cuda matches cpu") {
  {
    ActNorm<float, cpu> h(6);
    ActNorm<float, cuda> d(6);
    check_vqgan_layer("ActNorm", h, d, {3, 6, 4, 5});
  }
  const vqgan_encoder_options eo{8, {1, 2}, 1, {8}, 2, 16, 4, false, 0.0, 4};
  {
    VQGANEncoder<double, cpu> h(eo);
    VQGANEncoder<double, cuda> d(eo);
    h.set_input_gradient(true);
    d.set_input_gradient(true);
    check_vqgan_layer("VQGANEncoder", h, d, {2, 2, 16, 16});
  }
  const vqgan_decoder_options dop{8, 2, {1, 2}, 1, {8}, 16, 4, 0.0, 4};
  {
    VQGANDecoder<double, cpu> h(dop);
    VQGANDecoder<double, cuda> d(dop);
    check_vqgan_layer("VQGANDecoder", h, d, {2, 4, 8, 8});
  }
  {
    PatchDiscriminator<double, cpu> h({1, 8, 2});
    PatchDiscriminator<double, cuda> d({1, 8, 2});
    check_vqgan_layer("PatchDiscriminator (BatchNorm2d)", h, d, {2, 1, 32, 32});
  }
  {
    PatchDiscriminator<double, cpu, ActNorm> h({3, 8, 2});
    PatchDiscriminator<double, cuda, ActNorm> d({3, 8, 2});
    check_vqgan_layer("PatchDiscriminator (ActNorm)", h, d, {2, 3, 32, 32});
  }
}

TEST_CASE("ResnetBlock<float, cuda> refuses dropout > 0 (Dropout is host-only)") {
  using device_block = ResnetBlock<float, cuda>;
  CHECK_THROWS_WITH_AS(device_block(8, 8, 0.1, 4), doctest::Contains("needs a host backend"), vae::error);
}
