// VQGANEncoder: finite-difference gradients (double), PyTorch parity of the whole taming Encoder (vqgan.py's layout at
// ch 8), taming's state_dict names and vqgan.py's sizes, option and shape errors.
#include "vae/encoders/vqgan_encoder.hpp"

#include "stack_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Layer<VQGANEncoder<float>>);

namespace vqgan_encoder_test {
// vqgan.py's layout (ch_mult {1, 2, 2}, one res block, attention at the lowest level) at ch 8, GroupNorm(4), 16×16.
inline vqgan_encoder_options fixture_options() { return {8, {1, 2, 2}, 1, {4}, 1, 16, 4, false, 0.0, 4}; }

// Every fixture parameter "p.<name>" is one of the store's names, and the other way round.
template <class T>
void require_same_names(const parameter_store<T>& store, const io::safetensors_file& f) {
  std::size_t fixture_params = 0;
  for (const auto& t : f.tensors()) fixture_params += t.name.rfind("p.", 0) == 0;
  CHECK(fixture_params == store.entries().size());
}
}  // namespace vqgan_encoder_test

TEST_CASE("VQGANEncoder gradients match finite differences (double)") {
  // Two levels (one ConvDownsample), a channel change (nin_shortcut), attention at the lower level and in mid.
  VQGANEncoder<double> enc({2, {1, 2}, 1, {4}, 2, 8, 3, false, 0.0, 2});
  enc.set_input_gradient(true);
  // conv_in, down.0 (block, downsample), down.1 (block with nin_shortcut, attn), mid, norm_out, conv_out
  CHECK(test::require_gradients(enc, {1, 2, 8, 8}, 61) == 2 + (8 + 2) + (10 + 10) + (8 + 10 + 8) + 2 + 2);
}

// The fixture is PyTorch's float64 run on float32 values (tools/fixtures/vqgan_blocks.py). In double every output,
// dx and parameter gradient matches to the fixture's float32 rounding. In float32 the forward and dx match at the
// layer tolerance; the parameter gradients of the early layers (sums over every position, through ~10 GroupNorms)
// carry float32 rounding of a few 1e-5 and are compared in double only.
TEST_CASE("VQGANEncoder matches taming's Encoder in PyTorch (vqgan.py's layout at ch 8)") {
  const auto f = test::golden("vqgan_encoder");
  SUBCASE("double: forward, dx and every parameter gradient") {
    generator rng(0);
    VQGANEncoder<double> enc(vqgan_encoder_test::fixture_options());
    enc.set_input_gradient(true);
    parameter_store<double> store;
    store.attach(enc, rng);
    test::require_stack_parity(enc, store, f, "VQGANEncoder<double>", true, 1e-6, 1e-5);
  }
  SUBCASE("float32: forward and dx") {
    generator rng(0);
    VQGANEncoder<float> enc(vqgan_encoder_test::fixture_options());
    enc.set_input_gradient(true);
    parameter_store<float> store;
    store.attach(enc, rng);
    vqgan_encoder_test::require_same_names(store, f);
    test::require_stack_parity(enc, store, f, "VQGANEncoder<float>", true, 1e-5, 1e-4, false);
  }
}

TEST_CASE("VQGANEncoder at vqgan.py's size: taming's names, 415,776 parameters, 32×32 → 8×8") {
  generator rng(62);
  VQGANEncoder<float> enc({.ch = 32, .ch_mult = {1, 2, 2}, .num_res_blocks = 1, .attn_resolutions = {8},
                            .in_channels = 1, .resolution = 32, .z_channels = 64});  // as docs/guide-vqgan.md
  parameter_store<float> store;
  store.attach(enc, rng, "encoder.");
  REQUIRE(store.entries().size() == 72);  // len(list(Encoder().parameters())) in vqgan.py
  CHECK(store.trainable_size() == 415776);
  const auto& e = store.entries();
  CHECK(e.front().name == "encoder.conv_in.weight");
  CHECK(e[2].name == "encoder.down.0.block.0.norm1.weight");
  CHECK(e.back().name == "encoder.conv_out.bias");
  bool attn = false, down = false, shortcut = false, mid = false;
  for (const auto& p : e) {
    attn = attn || (p.name == "encoder.down.2.attn.0.proj_out.weight" && p.shape == shape{64, 64, 1, 1});
    down = down || (p.name == "encoder.down.1.downsample.conv.weight" && p.shape == shape{64, 64, 3, 3});
    shortcut = shortcut || (p.name == "encoder.down.1.block.0.nin_shortcut.weight" && p.shape == shape{64, 32, 1, 1});
    mid = mid || (p.name == "encoder.mid.attn_1.q.weight" && p.shape == shape{64, 64, 1, 1});
  }
  CHECK(attn);
  CHECK(down);
  CHECK(shortcut);
  CHECK(mid);
  tensor<float> x({2, 1, 32, 32}, 0.25f);
  CHECK(enc.forward(x).shape() == shape{2, 64, 8, 8});
  CHECK(enc.downsampling_factor() == 4);
}

TEST_CASE("VQGANEncoder rejects bad options and inputs") {
  CHECK_THROWS_WITH_AS(VQGANEncoder<float>({8, {1, 3}, 1, {}, 1, 16, 4, false, 0.0, 16}),
                       doctest::Contains("multiple of norm_groups"), vae::error);
  CHECK_THROWS_WITH_AS(VQGANEncoder<float>({8, {}, 1, {}, 1, 16, 4}), doctest::Contains("non-empty ch_mult"),
                       vae::error);
  generator rng(63);
  VQGANEncoder<float> enc(vqgan_encoder_test::fixture_options());
  parameter_store<float> store;
  store.attach(enc, rng);
  tensor<float> x({1, 3, 16, 16}, 0.f);
  CHECK_THROWS_WITH_AS(enc.forward(x), doctest::Contains("expected input [N, 1, H, W], got [1, 3, 16, 16]"),
                       vae::error);
}

TEST_CASE("VQGANEncoder backward accumulates into parameter gradients") {
  generator rng(64);
  VQGANEncoder<double> enc({2, {1, 2}, 1, {4}, 1, 8, 2, false, 0.0, 2});
  parameter_store<double> store;
  store.attach(enc, rng);
  const auto x = test::random_tensor<double>({1, 1, 8, 8}, rng);
  test::require_accumulates(enc, store, x, rng);
}
