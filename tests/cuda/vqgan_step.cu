// VQGAN<VQGANEncoder, VQGANDecoder, VectorQuantizer, PatchDiscriminator, cuda> against the same model on cpu, in
// double, from the same seed (the taming-block model of tests/models/vqgan.cpp: ch 8, GroupNorm(4), 16×16 images,
// K 8, PatchGAN ndf 8): three train steps (disc_factor 0, then 1) with every logged term, then every AE and D tensor
// (BatchNorm running statistics included). Written for a GPU machine: here it is compiled by nvcc and skipped (exit 77)
// without a device. Double keeps the nearest-code choices away from float ties (the cpu and cuBLAS distances differ in
// the last bits only).
#include "vae/adversarial/patch_discriminator.hpp"
#include "vae/backend/cuda/kernels.cuh"
#include "vae/decoders/vqgan_decoder.hpp"
#include "vae/encoders/vqgan_encoder.hpp"
#include "vae/models/vqgan.hpp"
#include "vae/quantizers/vector_quantizer.hpp"
#include "vae/train/adam.hpp"

#include <string>

#include "cuda_test_support.cuh"

using namespace vae;

namespace vqgan_step_test {

template <class B>
struct rig {
  using model_t = VQGAN<VQGANEncoder<double, B>, VQGANDecoder<double, B>, VectorQuantizer<double, B>,
                        PatchDiscriminator<double, B>, HingeLoss<double, B>>;
  model_t m;
  parameter_store<double, B> ae, d;
  Adam<double, B> ae_opt{{.lr = 1e-3, .beta1 = 0.5, .beta2 = 0.9, .eps = 1e-3}},
      d_opt{{.lr = 1e-3, .beta1 = 0.5, .beta2 = 0.9, .eps = 1e-3}};
  static vqgan_encoder_options encoder() {
    vqgan_encoder_options o;
    o.ch = 8, o.ch_mult = {1, 2, 2}, o.num_res_blocks = 1, o.attn_resolutions = {4}, o.in_channels = 1;
    o.resolution = 16, o.z_channels = 4, o.norm_groups = 4;
    return o;
  }
  static vqgan_decoder_options decoder() {
    vqgan_decoder_options o;
    o.ch = 8, o.out_channels = 1, o.ch_mult = {1, 2, 2}, o.num_res_blocks = 1, o.attn_resolutions = {4};
    o.resolution = 16, o.z_channels = 4, o.norm_groups = 4;
    return o;
  }
  static vqgan_options options() {
    vqgan_options o;
    o.disc_start = disc_start_schedule::at_step(1);
    return o;
  }
  rig()
      : m(VQGANEncoder<double, B>(encoder()), VQGANDecoder<double, B>(decoder()), VectorQuantizer<double, B>(8, 4),
          PatchDiscriminator<double, B>({.in_channels = 1, .ndf = 8, .n_layers = 2}), 4, 4, options()) {
    generator rng(11);  // the same host draws on both backends
    ae.attach(m, rng);
    auto part = m.discriminator_part();
    d.attach(part, rng);
  }
};

template <class T>
tensor<T> host_values(const parameter_store<T, cuda>& s, const parameter_entry& e) {
  tensor<T> out(e.shape.rank() == 0 ? shape{1} : e.shape);
  cuda::copy_to_host(out.data(), s.values() + e.offset, static_cast<std::size_t>(e.shape.numel()));
  return out;
}
template <class T>
tensor<T> host_values(const parameter_store<T, cpu>& s, const parameter_entry& e) {
  tensor<T> out(e.shape.rank() == 0 ? shape{1} : e.shape);
  std::copy(s.values() + e.offset, s.values() + e.offset + e.shape.numel(), out.data());
  return out;
}

}  // namespace vqgan_step_test

TEST_CASE("cuda VQGAN (taming blocks, double): three train steps match the cpu model (terms, AE and D tensors)") {
  using tol = cuda_test::step_tolerance<double>;
  vqgan_step_test::rig<cpu> h;
  vqgan_step_test::rig<cuda> g;
  generator rng(3);
  const auto x = cuda_test::random_tensor<double>({4, 1, 16, 16}, rng, 0.5);
  const auto xd = to<cuda>(x);
  for (int i = 0; i < 3; ++i) {
    const auto a = h.m.train_step(x, i, h.ae, h.ae_opt, h.d, h.d_opt);
    const auto b = g.m.train_step(xd, i, g.ae, g.ae_opt, g.d, g.d_opt);
    const std::string p = "step " + std::to_string(i) + " ";
    cuda_test::check_scalar(b.rec_l1, a.rec_l1, tol::loss_rtol, p + "rec_l1");
    cuda_test::check_scalar(b.quantizer_loss, a.quantizer_loss, tol::loss_rtol, p + "quantizer_loss");
    cuda_test::check_scalar(b.g_loss, a.g_loss, tol::loss_rtol, p + "g_loss");
    cuda_test::check_scalar(b.rec_grad_norm, a.rec_grad_norm, tol::loss_rtol, p + "rec_grad_norm");
    cuda_test::check_scalar(b.gan_grad_norm, a.gan_grad_norm, tol::loss_rtol, p + "gan_grad_norm");
    cuda_test::check_scalar(b.d_weight, a.d_weight, tol::loss_rtol, p + "d_weight");
    cuda_test::check_scalar(b.d_loss + 1.0, a.d_loss + 1.0, tol::loss_rtol, p + "d_loss (+1: 0 before disc_start)");
    cuda_test::check_scalar(b.logits_real, a.logits_real, tol::loss_rtol, p + "logits_real");
    cuda_test::check_scalar(b.logits_fake, a.logits_fake, tol::loss_rtol, p + "logits_fake");
    CHECK(b.codes_used == a.codes_used);
  }
  const std::pair<parameter_store<double, cpu>*, parameter_store<double, cuda>*> stores[] = {{&h.ae, &g.ae},
                                                                                              {&h.d, &g.d}};
  for (const auto& [hs, gs] : stores) {
    REQUIRE(hs->entries().size() == gs->entries().size());
    for (std::size_t k = 0; k < hs->entries().size(); ++k) {
      const auto& e = hs->entries()[k];
      const auto dev = vqgan_step_test::host_values(*gs, gs->entries()[k]);
      const auto ref = vqgan_step_test::host_values(*hs, e);
      const auto c = testing::compare(dev.data(), ref.data(), ref.numel(), tol::param_atol, tol::param_rtol);
      MESSAGE("cuda vs cpu " << c.summary(e.name));
      CHECK_MESSAGE(c.ok, c.summary(e.name));
    }
  }
}
