// VQGAN model: parameter names (taming's), a whole 3-step training run against PyTorch (the step of
// shared/reference/vqgan.py at toy size: every logged term, λ and both gradient norms from autograd, final AE and D
// weights; again in double with taming's Encoder/Decoder/NLayerDiscriminator, the library's VQGANEncoder,
// VQGANDecoder and PatchDiscriminator), no gradient crossing between the AE and D steps, the rec loss falling over a few steps, non-finite
// g_loss / d_loss refused naming the term and the step, the D step's reconstruction not counted twice, LeCam.
// Stand-ins for the taming blocks: small Sequentials of Conv2d / LeakyReLU / Upsample / BatchNorm2d.
#include "vae/models/vqgan.hpp"

#include <cmath>
#include <limits>
#include <string>

#include "../test_support.hpp"
#include "vqgan_support.hpp"
#include "vae/adversarial/patch_discriminator.hpp"
#include "vae/decoders/vqgan_decoder.hpp"
#include "vae/dist/gradient_reducer.hpp"
#include "vae/encoders/vqgan_encoder.hpp"
#include "vae/layers/activations.hpp"
#include "vae/layers/batch_norm2d.hpp"
#include "vae/layers/conv2d.hpp"
#include "vae/layers/sequential.hpp"
#include "vae/layers/upsample.hpp"
#include "vae/quantizers/vector_quantizer.hpp"
#include "vae/train/adam.hpp"

using namespace vae;

namespace vqgan_test {

// A discriminator that poisons one of its forward outputs with a NaN (call numbers count from 1; per step the model
// calls D(x̂) in the AE step, then D(x) and D(x̂') in the D step).
struct PoisonedDisc {
  using value_type = float;
  using backend = cpu;
  Disc inner;
  int calls = 0, poison_call = -1;
  tensor<float> out{};
  const tensor<float>& forward(const tensor<float>& x) {
    const auto& y = inner.forward(x);
    if (++calls != poison_call) return y;
    out = y;
    out[0] = std::numeric_limits<float>::quiet_NaN();
    return out;
  }
  const tensor<float>& backward(const tensor<float>& dy) { return inner.backward(dy); }
  template <class V>
  void visit_parameters(const std::string& prefix, V&& visit) {
    inner.visit_parameters(prefix, visit);
  }
  void set_training(bool t) { inner.set_training(t); }
};


// Copies fixture tensors "<prefix><entry name>" into every entry of the store (all must be there).
inline void load_store(parameter_store<float>& store, const io::safetensors_file& f, const std::string& prefix) {
  for (const auto& e : store.entries()) {
    const auto* st = f.find(prefix + e.name);
    REQUIRE_MESSAGE(st != nullptr, "fixture lacks " << prefix + e.name);
    REQUIRE(st->dims.numel() == e.shape.numel());
    const auto v = st->values<float>();
    std::copy(v.begin(), v.end(), store.values() + e.offset);
  }
}

inline tensor<float> fixture_tensor(const io::safetensors_file& f, const std::string& name) {
  const auto& st = f.at(name);
  tensor<float> t(st.dims);
  const auto v = st.values<float>();
  std::copy(v.begin(), v.end(), t.data());
  return t;
}

inline tensor<float> scalar(double v) { return tensor<float>({1}, static_cast<float>(v)); }

inline bool all_zero(const float* g, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i)
    if (g[i] != 0.0f) return false;
  return true;
}


}  // namespace vqgan_test

using vqgan_test::rig;

TEST_CASE("VQGAN names its parameters as taming's VQModel; the discriminator's go to their own store") {
  rig<> r({}, vqgan_test::make_disc());
  for (const char* name : {"encoder.0.weight", "encoder.2.bias", "quant_conv.weight", "quantize.embedding.weight",
                           "post_quant_conv.bias", "decoder.1.weight", "decoder.conv_out.weight"})
    CHECK_MESSAGE(r.ae.find(name) != nullptr, name);
  for (const char* name : {"loss.discriminator.0.weight", "loss.discriminator.3.running_var",
                           "loss.discriminator.5.bias"})
    CHECK_MESSAGE(r.d.find(name) != nullptr, name);
  CHECK(r.ae.find("loss.discriminator.0.weight") == nullptr);
  CHECK(r.d.find("encoder.0.weight") == nullptr);
}

TEST_CASE("VQGAN: three training steps match PyTorch (terms, λ and its gradient norms, final AE and D weights)") {
  const auto f = test::golden("vqgan_step");
  vqgan_options o;
  o.disc_start = disc_start_schedule::at_step(1);  // step 0 without the discriminator, steps 1 and 2 with it
  rig<> r(o, vqgan_test::make_disc());
  vqgan_test::load_store(r.ae, f, "init.");
  vqgan_test::load_store(r.d, f, "init.");
  const auto x = vqgan_test::fixture_tensor(f, "x");
  for (int i = 0; i < 3; ++i) {
    const auto s = r.step(x, i);
    const std::string p = "step" + std::to_string(i) + "_";
    CHECK(s.disc_factor == (i >= 1 ? 1.0 : 0.0));
    const std::pair<const char*, double> terms[] = {
        {"nll", s.rec_l1},           {"qloss", s.quantizer_loss}, {"g", s.g_loss},
        {"rec_grad_norm", s.rec_grad_norm}, {"gan_grad_norm", s.gan_grad_norm}, {"d_weight", s.d_weight},
        {"ae_loss", s.ae_loss},      {"d_loss", s.d_loss},        {"logits_real", s.logits_real},
        {"logits_fake", s.logits_fake}};
    for (const auto& [name, value] : terms) test::require_parity(vqgan_test::scalar(value), f, p + name, p + name);
  }
  // After three Adam steps (lr 1e-2): every AE and D tensor, BatchNorm running statistics included.
  for (auto* store : {&r.ae, &r.d})
    for (const auto& e : store->entries()) {
      tensor<float> v(e.shape);
      std::copy(store->values() + e.offset, store->values() + e.offset + e.shape.numel(), v.data());
      if (e.shape.rank() == 0) v.reshape({1});
      const auto* st = f.find("final." + e.name);
      REQUIRE(st != nullptr);
      if (st->dims.rank() == 0) {
        CHECK(v[0] == st->values<float>()[0]);  // num_batches_tracked: 9 forwards in training mode
        continue;
      }
      test::require_parity(v, f, "final." + e.name, "final " + e.name);
    }
}

namespace vqgan_test {
using spy_adam = spy_optimizer<Adam<float>>;
}  // namespace vqgan_test

TEST_CASE("VQGAN: the discriminator takes no gradient from the AE step, the AE none from the D step") {
  static_assert(Optimizer<vqgan_test::spy_adam, float, cpu>);
  vqgan_options o;
  o.disc_start = disc_start_schedule::at_step(1);
  rig<> r(o, vqgan_test::make_disc());
  const adam_options taming{.lr = 1e-2, .beta1 = 0.5, .beta2 = 0.9};
  vqgan_test::spy_adam ae_opt{Adam<float>(taming), {}}, d_opt{Adam<float>(taming), {}};
  const auto x = vqgan_test::blobs(4);
  // Step 0 (disc_factor 0): the AE step ran D's backward to reach x̂ (its gradient norm at the decoder is not zero),
  // yet the D optimizer sees only zeros; the AE optimizer sees the AE gradients (not zero).
  auto s = r.m.train_step(x, 0, r.ae, ae_opt, r.d, d_opt);
  CHECK(s.gan_grad_norm > 0);
  REQUIRE(d_opt.seen.size() == static_cast<std::size_t>(r.d.trainable_size()));
  CHECK(vqgan_test::all_zero(d_opt.seen.data(), r.d.trainable_size()));
  CHECK_FALSE(vqgan_test::all_zero(ae_opt.seen.data(), r.ae.trainable_size()));
  // Step 1 (disc_factor 1): the D optimizer now sees the D loss's gradient. That it is the D loss's alone (taming
  // freezes D in the AE step) is what the PyTorch parity test above checks through D's weights after the steps.
  s = r.m.train_step(x, 1, r.ae, ae_opt, r.d, d_opt);
  CHECK_FALSE(vqgan_test::all_zero(d_opt.seen.data(), r.d.trainable_size()));
  // Both stores are left cleared: nothing carries into the next step.
  CHECK(vqgan_test::all_zero(r.ae.grads(), r.ae.trainable_size()));
  CHECK(vqgan_test::all_zero(r.d.grads(), r.d.trainable_size()));
}

TEST_CASE("VQGAN: a few steps of the tiny model lower the reconstruction loss, the discriminator on from step 10") {
  vqgan_options o;
  o.disc_start = disc_start_schedule::at_step(10);
  rig<> r(o, vqgan_test::make_disc(), 1e-2, 3);
  const auto x = vqgan_test::blobs(8);
  const double first = r.step(x, 0).rec_l1;
  double last = first;
  for (int i = 1; i < 40; ++i) {
    const auto s = r.step(x, i);
    CHECK(std::isfinite(s.ae_loss));
    CHECK(std::isfinite(s.d_loss));
    last = s.rec_l1;
  }
  MESSAGE("rec L1 " << first << " -> " << last << " after 40 steps");
  CHECK(last < 0.7 * first);
}

TEST_CASE("VQGAN: a non-finite g_loss or d_loss throws naming the term and the step; no optimizer step is taken") {
  const auto x = vqgan_test::blobs(4);
  {
    vqgan_test::PoisonedDisc d{vqgan_test::make_disc()};
    d.poison_call = 4;  // step 1's AE step: D(x̂)
    rig<vqgan_test::PoisonedDisc> r({}, std::move(d));
    r.step(x, 0);
    const std::vector<float> before(r.ae.values(), r.ae.values() + r.ae.size());
    CHECK_THROWS_WITH_AS(r.step(x, 1), doctest::Contains("g_loss is not finite (nan) at step 1"), vae::error);
    CHECK(std::equal(before.begin(), before.end(), r.ae.values()));
    CHECK(r.ae_opt.step_count() == 1);
  }
  {
    vqgan_test::PoisonedDisc d{vqgan_test::make_disc()};
    d.poison_call = 6;  // step 1's D step: D(x̂')
    rig<vqgan_test::PoisonedDisc> r({}, std::move(d));
    r.step(x, 0);
    const std::vector<float> before(r.d.values(), r.d.values() + r.d.trainable_size());
    CHECK_THROWS_WITH_AS(r.step(x, 1), doctest::Contains("d_loss is not finite (nan) at step 1"), vae::error);
    CHECK(std::equal(before.begin(), before.end(), r.d.values()));
    CHECK(r.d_opt.step_count() == 1);
  }
}

TEST_CASE("VQGAN: the D step's fresh reconstruction does not count in the codebook statistics; reuse option") {
  for (const bool reuse : {false, true}) {
    vqgan_options o;
    o.reuse_reconstruction = reuse;
    rig<> r(o, vqgan_test::make_disc());
    const auto x = vqgan_test::blobs(4);
    r.m.stats().reset();
    const auto s = r.step(x, 0);
    CHECK(r.m.stats().total() == 4 * 4 * 4);  // one AE forward of 4 images, 4×4 tokens each
    CHECK(s.codes_used >= 1);
    CHECK(std::isfinite(s.d_loss));
  }
}

TEST_CASE("VQGAN: LeCam adds to the D loss from the second step on") {
  vqgan_options o;
  o.lecam = {0.5, 0.9};
  rig<> r(o, vqgan_test::make_disc());
  const auto x = vqgan_test::blobs(4);
  CHECK(r.step(x, 0).lecam == 0.0);
  CHECK(r.m.lecam().updates() == 1);
  const auto s = r.step(x, 1);
  CHECK(s.lecam >= 0.0);
  CHECK(s.d_loss >= s.lecam);  // hinge terms are ≥ 0 and disc_factor is 1
}

namespace vqgan_test {
// The taming-block model of tools/fixtures/adversarial.py (make_taming_step), in double.
struct taming_rig {
  using model_t = VQGAN<VQGANEncoder<double>, VQGANDecoder<double>, VectorQuantizer<double>, PatchDiscriminator<double>>;
  model_t m;
  parameter_store<double> ae, d;
  Adam<double> ae_opt{{.lr = 1e-3, .beta1 = 0.5, .beta2 = 0.9}}, d_opt{{.lr = 1e-3, .beta1 = 0.5, .beta2 = 0.9}};
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
  taming_rig()
      : m(VQGANEncoder<double>(encoder()), VQGANDecoder<double>(decoder()), VectorQuantizer<double>(8, 4),
          PatchDiscriminator<double>({.in_channels = 1, .ndf = 8, .n_layers = 2}), 4, 4, options()) {
    generator rng(0);
    ae.attach(m, rng);
    auto part = m.discriminator_part();
    d.attach(part, rng);
  }
};
}  // namespace vqgan_test

TEST_CASE("VQGAN with the taming blocks: three steps match PyTorch in double (terms, λ, every tensor's change)") {
  static_assert(AdaptiveWeightDecoder<VQGANDecoder<double>>);
  const auto f = test::golden("vqgan_taming_step");
  vqgan_test::taming_rig r;
  std::int64_t loaded = 0;
  for (auto* store : {&r.ae, &r.d})
    for (const auto& e : store->entries()) {
      const auto* st = f.find("init." + e.name);
      REQUIRE_MESSAGE(st != nullptr, "fixture lacks init." << e.name);
      const auto v = st->values<double>();
      REQUIRE(static_cast<std::int64_t>(v.size()) == e.shape.numel());
      std::copy(v.begin(), v.end(), store->values() + e.offset);
      ++loaded;
    }
  CHECK(loaded == static_cast<std::int64_t>(r.ae.entries().size() + r.d.entries().size()));
  const std::vector<double> init_ae(r.ae.values(), r.ae.values() + r.ae.size());
  const std::vector<double> init_d(r.d.values(), r.d.values() + r.d.size());
  const auto& st = f.at("x");
  tensor<double> x(st.dims);
  const auto xv = st.values<double>();
  std::copy(xv.begin(), xv.end(), x.data());
  for (int i = 0; i < 3; ++i) {
    const auto s = r.m.train_step(x, i, r.ae, r.ae_opt, r.d, r.d_opt);
    const std::string p = "step" + std::to_string(i) + "_";
    const std::pair<const char*, double> terms[] = {
        {"nll", s.rec_l1},           {"qloss", s.quantizer_loss}, {"g", s.g_loss},
        {"rec_grad_norm", s.rec_grad_norm}, {"gan_grad_norm", s.gan_grad_norm}, {"d_weight", s.d_weight},
        {"ae_loss", s.ae_loss},      {"d_loss", s.d_loss},        {"logits_real", s.logits_real},
        {"logits_fake", s.logits_fake}};
    for (const auto& [name, value] : terms)
      test::require_parity(tensor<double>({1}, value), f, p + name, p + name, 1e-12, 1e-10);
  }
  // The change of every tensor over the three steps (stored in float32: relative 1e-5, absolute 1e-9).
  const std::pair<parameter_store<double>*, const std::vector<double>*> stores[] = {{&r.ae, &init_ae}, {&r.d, &init_d}};
  for (const auto& [store, init] : stores)
    for (const auto& e : store->entries()) {
      tensor<double> delta(e.shape.rank() == 0 ? shape{1} : e.shape);
      for (std::int64_t i = 0; i < e.shape.numel(); ++i)
        delta[i] = store->values()[e.offset + i] - (*init)[static_cast<std::size_t>(e.offset + i)];
      if (e.shape.rank() == 0) {
        CHECK(delta[0] == f.at("delta." + e.name).values<double>().at(0));  // num_batches_tracked: 9
        continue;
      }
      test::require_parity(delta, f, "delta." + e.name, "delta " + e.name, 1e-9, 1e-5);
    }
}

TEST_CASE("VQGAN data-parallel hooks in a world of one: every AE gradient declared once and after its last write, "
          "both stores reduced, the steps bit for bit those without hooks") {
  vqgan_options o;
  o.disc_start = disc_start_schedule::at_step(1);
  rig<> plain(o, vqgan_test::make_disc()), hooked(o, vqgan_test::make_disc());
  dist::local_communicator one;
  dist::gradient_reducer_options ro;
  ro.bucket_elements = 5;
  ro.verify = true;  // throws in finish() if the backward wrote a gradient after declaring it ready
  dist::gradient_reducer ae(one, hooked.ae, ro), d(one, hooked.d, ro);
  hooked.m.set_data_parallel(&ae, &d, &one);
  const auto x = vqgan_test::blobs(4);
  for (std::int64_t i = 0; i < 3; ++i) {
    CAPTURE(i);
    const auto a = plain.step(x, i), b = hooked.step(x, i);
    CHECK(a.ae_loss == b.ae_loss);
    CHECK(a.d_loss == b.d_loss);
    CHECK(a.d_weight == b.d_weight);
    CHECK(ae.early_buckets() == ae.buckets());  // the hooks declared every AE gradient during the backward
    CHECK(d.early_buckets() == 0);              // D's are reduced in one go before its step
  }
  CHECK(std::equal(plain.ae.values(), plain.ae.values() + plain.ae.size(), hooked.ae.values()));
  CHECK(std::equal(plain.d.values(), plain.d.values() + plain.d.size(), hooked.d.values()));
  CHECK_THROWS_WITH_AS(hooked.m.set_data_parallel(&ae, nullptr, &one), doctest::Contains("or none"), error);
}
