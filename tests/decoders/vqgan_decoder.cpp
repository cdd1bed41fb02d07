// VQGANDecoder: finite-difference gradients (double), PyTorch parity of the whole taming Decoder (vqgan.py's layout at
// ch 8), taming's state_dict names and vqgan.py's sizes, the last layer's weight gradient, option and shape errors.
#include "vae/decoders/vqgan_decoder.hpp"

#include "../encoders/stack_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Layer<VQGANDecoder<float>>);

TEST_CASE("VQGANDecoder gradients match finite differences (double)") {
  // Two levels (one ConvUpsample), channel change 4 → 2 (nin_shortcut), attention at the lower level and in mid.
  VQGANDecoder<double> dec({2, 2, {1, 2}, 1, {4}, 8, 3, 0.0, 2});
  // conv_in, mid, up.1 (2 blocks, 2 attn, upsample), up.0 (block with nin_shortcut, block), norm_out, conv_out
  parameter_store<double> store;
  CHECK(test::require_gradients(dec, store, {1, 3, 4, 4}, 71) == 2 + 26 + (16 + 20 + 2) + (10 + 8) + 2 + 2);
  CHECK(dec.forward(tensor<double>({1, 3, 4, 4}, 0.5)).shape() == shape{1, 2, 8, 8});
}

// As the encoder's parity test: double compares everything tightly against PyTorch's float64 run, float32 the
// forward and dz at the layer tolerance (its early layers' parameter gradients carry float32 rounding of a few 1e-5).
TEST_CASE("VQGANDecoder matches taming's Decoder in PyTorch (vqgan.py's layout at ch 8)") {
  const auto f = test::golden("vqgan_decoder");
  const vqgan_decoder_options o{8, 1, {1, 2, 2}, 1, {4}, 16, 4, 0.0, 4};
  SUBCASE("double: forward, dz and every parameter gradient") {
    generator rng(0);
    VQGANDecoder<double> dec(o);
    parameter_store<double> store;
    store.attach(dec, rng);
    test::require_stack_parity(dec, store, f, "VQGANDecoder<double>", true, 1e-6, 1e-5);
  }
  SUBCASE("float32: forward and dz") {
    generator rng(0);
    VQGANDecoder<float> dec(o);
    parameter_store<float> store;
    store.attach(dec, rng);
    std::size_t fixture_params = 0;
    for (const auto& t : f.tensors()) fixture_params += t.name.rfind("p.", 0) == 0;
    CHECK(fixture_params == store.entries().size());
    test::require_stack_parity(dec, store, f, "VQGANDecoder<float>", true, 1e-5, 1e-4, false);
  }
}

TEST_CASE("VQGANDecoder at vqgan.py's size: taming's names, 654,721 parameters, 8×8 → 32×32") {
  generator rng(72);
  VQGANDecoder<float> dec({.ch = 32, .out_channels = 1, .ch_mult = {1, 2, 2}, .num_res_blocks = 1,
                            .attn_resolutions = {8}, .resolution = 32, .z_channels = 64});  // as docs/guide-vqgan.md
  parameter_store<float> store;
  store.attach(dec, rng, "decoder.");
  REQUIRE(store.entries().size() == 106);  // len(list(Decoder().parameters())) in vqgan.py
  CHECK(store.trainable_size() == 654721);
  const auto& e = store.entries();
  CHECK(e[2].name == "decoder.mid.block_1.norm1.weight");
  CHECK(e[e.size() - 2].name == "decoder.conv_out.weight");
  CHECK(e[e.size() - 2].shape == shape{1, 32, 3, 3});
  CHECK("decoder." + VQGANDecoder<float>::last_layer_name() == e[e.size() - 2].name);
  bool attn = false, up = false, shortcut = false;
  for (const auto& p : e) {
    attn = attn || (p.name == "decoder.up.2.attn.1.proj_out.weight" && p.shape == shape{64, 64, 1, 1});
    up = up || (p.name == "decoder.up.1.upsample.conv.weight" && p.shape == shape{64, 64, 3, 3});
    shortcut = shortcut || (p.name == "decoder.up.0.block.0.nin_shortcut.weight" && p.shape == shape{32, 64, 1, 1});
  }
  CHECK(attn);
  CHECK(up);
  CHECK(shortcut);
  tensor<float> z({2, 64, 8, 8}, 0.1f);
  CHECK(dec.forward(z).shape() == shape{2, 1, 32, 32});
}

TEST_CASE("VQGANDecoder::last_layer_weight_gradient equals conv_out's weight gradient from a full backward") {
  generator rng(73);
  VQGANDecoder<double> dec({2, 2, {1, 2}, 1, {4}, 8, 3, 0.0, 2});
  parameter_store<double> store;
  store.attach(dec, rng);
  const auto z = test::random_tensor<double>({2, 3, 4, 4}, rng);
  const auto& y = dec.forward(z);
  const auto dy1 = test::random_tensor<double>(y.shape(), rng), dy2 = test::random_tensor<double>(y.shape(), rng);
  tensor<double> w1, w2;
  store.zero_grad();
  dec.last_layer_weight_gradient(dy1, w1);
  dec.last_layer_weight_gradient(dy2, w2);
  for (std::int64_t i = 0; i < store.size(); ++i) REQUIRE(store.grads()[i] == 0.0);  // gradients untouched
  REQUIRE(w1.shape() == shape{2, 2, 3, 3});
  dec.backward(dy1);
  const auto& wg = dec.last_layer().weight();
  for (std::int64_t i = 0; i < w1.numel(); ++i) CHECK(w1[i] == doctest::Approx(wg.grad[i]).epsilon(1e-12));
  bool differs = false;
  for (std::int64_t i = 0; i < w1.numel(); ++i) differs = differs || w1[i] != w2[i];
  CHECK(differs);
}

TEST_CASE("VQGANDecoder rejects bad options and inputs") {
  CHECK_THROWS_WITH_AS(VQGANDecoder<float>({8, 0, {1, 2}, 1, {}, 16, 4, 0.0, 4}),
                       doctest::Contains("out_channels must be positive"), vae::error);
  generator rng(74);
  VQGANDecoder<float> dec({8, 1, {1, 2}, 1, {}, 16, 4, 0.0, 4});
  parameter_store<float> store;
  store.attach(dec, rng);
  tensor<float> z({1, 5, 4, 4}, 0.f);
  CHECK_THROWS_WITH_AS(dec.forward(z), doctest::Contains("expected input [N, 4, h, w], got [1, 5, 4, 4]"),
                       vae::error);
}

TEST_CASE("VQGANDecoder backward accumulates into parameter gradients") {
  generator rng(75);
  VQGANDecoder<double> dec({2, 1, {1, 2}, 1, {4}, 8, 2, 0.0, 2});
  parameter_store<double> store;
  store.attach(dec, rng);
  const auto z = test::random_tensor<double>({1, 2, 4, 4}, rng);
  test::require_accumulates(dec, store, z, rng);
}
