// ConvDecoder: finite-difference gradients, PyTorch parity of the whole stack, state_dict names, shape errors,
// and the optional residual blocks (k = 0 unchanged; k > 0 names, equivalence with the nn.Sequential, gradients).
#include "vae/decoders/conv_decoder.hpp"

#include <cmath>

#include "../encoders/stack_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Layer<ConvDecoder<float>>);

TEST_CASE("ConvDecoder gradients match finite differences (double)") {
  generator rng(1);
  ConvDecoder<double> dec(3, 8, 4, 3, 2);
  parameter_store<double> store;
  store.attach(dec, rng);
  auto z = test::random_tensor<double>({2, 3}, rng);
  CHECK(dec.forward(z).shape() == shape{2, 2, 8, 8});
  const auto report = testing::check_layer_gradients(dec, store, z);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == test::layer_checks(z, store));
}

TEST_CASE("ConvDecoder matches vae_conv.py's fc + dec in PyTorch (float32, small size)") {
  const auto f = test::golden("conv_decoder");
  generator rng(0);
  ConvDecoder<float> dec(3, 8, 6, 4, 1);
  parameter_store<float> store;
  store.attach(dec, rng);
  test::require_stack_parity(dec, store, f, "ConvDecoder", true);
}

TEST_CASE("ConvDecoder has vae_conv.py's state_dict names and shapes (relative to the model)") {
  generator rng(2);
  ConvDecoder<float> dec(32, 28, 64, 32, 1);
  parameter_store<float> store;
  store.attach(dec, rng);
  test::require_names(store, {{"fc.weight", {3136, 32}},
                              {"fc.bias", {3136}},
                              {"dec.0.weight", {64, 32, 4, 4}},
                              {"dec.0.bias", {32}},
                              {"dec.2.weight", {32, 1, 4, 4}},
                              {"dec.2.bias", {1}}});
}

TEST_CASE("ConvDecoder rejects a wrong latent size") {
  generator rng(3);
  ConvDecoder<float> dec(3, 8, 4, 3, 1);
  parameter_store<float> store;
  store.attach(dec, rng);
  tensor<float> z({2, 4}, 0.f);
  CHECK_THROWS_WITH_AS(dec.forward(z), doctest::Contains("expected input [N, 3], got [2, 4]"), vae::error);
}

TEST_CASE("ConvDecoder backward accumulates into parameter gradients") {
  generator rng(11);
  ConvDecoder<double> m(3, 8, 4, 3, 1);
  parameter_store<double> store;
  store.attach(m, rng);
  const auto x = test::random_tensor<double>({2, 3}, rng);
  test::require_accumulates(m, store, x, rng);
}

// ---- optional residual blocks (res_stack_options) ----

namespace conv_decoder_res {
// The PyTorch layout written atop conv_decoder.hpp for k = 2, from separate layers: self.fc, then
// self.dec = nn.Sequential(Res, Res, ReLU, ConvT, ReLU, ConvT) (names dec.0.c*, dec.1.c*, dec.3, dec.5).
struct reference_k2 {
  using value_type = double;
  using backend = cpu;
  // fc: latent → c2·g·g; blocks with `hidden` channels; ConvT c2 → c1 → out.
  reference_k2(std::int64_t latent, std::int64_t g, std::int64_t c2, std::int64_t c1, std::int64_t out,
               std::int64_t hidden)
      : fc(latent, c2 * g * g),
        view(shape{c2, g, g}),
        dec(ResBlock<double>(c2, hidden), ResBlock<double>(c2, hidden), ReLU<double>(),
            ConvTranspose2d<double>(c2, c1, 4, 2, 1), ReLU<double>(), ConvTranspose2d<double>(c1, out, 4, 2, 1)) {}

  Linear<double> fc;
  ReLU<double> relu;
  Reshape<double> view;
  Sequential<ResBlock<double>, ResBlock<double>, ReLU<double>, ConvTranspose2d<double>, ReLU<double>,
             ConvTranspose2d<double>>
      dec;

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    fc.visit_parameters(prefix + "fc.", visit);
    dec.visit_parameters(prefix + "dec.", visit);
  }
  const tensor<double>& forward(const tensor<double>& z) {
    return dec.forward(view.forward(relu.forward(fc.forward(z))));
  }
  const tensor<double>& backward(const tensor<double>& dy) {
    return fc.backward(relu.backward(view.backward(dec.backward(dy))));
  }
};

struct stand_in_device_memory {};
struct stand_in_device : vae::cpu {  // device-like memory space (only constructed: it has no kernels)
  using memory_space = stand_in_device_memory;
};
// An alias: the comma of ConvDecoder<float, stand_in_device> would split the CHECK macros' arguments.
using convdecoder_on_device = ConvDecoder<float, stand_in_device>;
}  // namespace conv_decoder_res

TEST_CASE("ConvDecoder with k = 0 residual blocks is the plain decoder: same names, initial values and outputs") {
  generator rng_a(4), rng_b(4);
  ConvDecoder<double> plain(3, 8, 4, 3, 2);
  ConvDecoder<double> k0(3, 8, 4, 3, 2, res_stack_options{0, 5});
  parameter_store<double> sa, sb;
  sa.attach(plain, rng_a);
  sb.attach(k0, rng_b);
  REQUIRE(sa.entries().size() == sb.entries().size());
  for (std::size_t i = 0; i < sa.entries().size(); ++i) CHECK(sa.entries()[i].name == sb.entries()[i].name);
  REQUIRE(sa.size() == sb.size());
  for (std::int64_t i = 0; i < sa.size(); ++i) CHECK(sa.values()[i] == sb.values()[i]);
  generator rng(5);
  const auto z = test::random_tensor<double>({2, 3}, rng);
  const tensor<double> ya = plain.forward(z);
  const auto& yb = k0.forward(z);
  REQUIRE(yb.shape() == ya.shape());
  for (std::int64_t i = 0; i < ya.numel(); ++i) CHECK(yb[i] == ya[i]);
}

TEST_CASE("ConvDecoder with residual blocks: names fc.*, dec.j.c* (Res), dec.(k+1) and dec.(k+3) (ConvT), shapes") {
  generator rng(6);
  SUBCASE("k = 2, hidden defaults to c2 / 2") {
    ConvDecoder<float> dec(32, 28, 64, 32, 1, res_stack_options{2, 0});
    parameter_store<float> store;
    store.attach(dec, rng);
    test::require_names(store, {{"fc.weight", {3136, 32}},
                                {"fc.bias", {3136}},
                                {"dec.0.c1.weight", {32, 64, 3, 3}},
                                {"dec.0.c1.bias", {32}},
                                {"dec.0.c2.weight", {64, 32, 1, 1}},
                                {"dec.0.c2.bias", {64}},
                                {"dec.1.c1.weight", {32, 64, 3, 3}},
                                {"dec.1.c1.bias", {32}},
                                {"dec.1.c2.weight", {64, 32, 1, 1}},
                                {"dec.1.c2.bias", {64}},
                                {"dec.3.weight", {64, 32, 4, 4}},
                                {"dec.3.bias", {32}},
                                {"dec.5.weight", {32, 1, 4, 4}},
                                {"dec.5.bias", {1}}});
    tensor<float> z({3, 32}, 0.5f);
    CHECK(dec.forward(z).shape() == shape{3, 1, 28, 28});
  }
  SUBCASE("k = 1, hidden 16") {
    ConvDecoder<float> dec(3, 8, 6, 4, 2, res_stack_options{1, 16});
    parameter_store<float> store;
    store.attach(dec, rng);
    test::require_names(store, {{"fc.weight", {24, 3}},
                                {"fc.bias", {24}},
                                {"dec.0.c1.weight", {16, 6, 3, 3}},
                                {"dec.0.c1.bias", {16}},
                                {"dec.0.c2.weight", {6, 16, 1, 1}},
                                {"dec.0.c2.bias", {6}},
                                {"dec.2.weight", {6, 4, 4, 4}},
                                {"dec.2.bias", {4}},
                                {"dec.4.weight", {4, 2, 4, 4}},
                                {"dec.4.bias", {2}}});
    tensor<float> z({2, 3}, 0.25f);
    CHECK(dec.forward(z).shape() == shape{2, 2, 8, 8});
  }
}

TEST_CASE("ConvDecoder with 2 residual blocks computes the documented fc + nn.Sequential (forward and dz)") {
  generator rng(7);
  ConvDecoder<double> dec(3, 8, 4, 3, 2, res_stack_options{2, 3});
  parameter_store<double> store;
  store.attach(dec, rng);
  conv_decoder_res::reference_k2 ref(/*latent=*/3, /*g=*/2, /*c2=*/4, /*c1=*/3, /*out=*/2, /*hidden=*/3);
  parameter_store<double> ref_store;
  generator other(99);
  ref_store.attach(ref, other);
  REQUIRE(ref_store.entries().size() == store.entries().size());
  for (std::size_t i = 0; i < store.entries().size(); ++i) {
    CHECK(ref_store.entries()[i].name == store.entries()[i].name);
    CHECK(ref_store.entries()[i].shape == store.entries()[i].shape);
  }
  REQUIRE(ref_store.size() == store.size());
  std::copy(store.values(), store.values() + store.size(), ref_store.values());
  const auto z = test::random_tensor<double>({2, 3}, rng);
  const tensor<double> y = dec.forward(z);
  const auto& y_ref = ref.forward(z);
  REQUIRE(y.shape() == y_ref.shape());
  for (std::int64_t i = 0; i < y.numel(); ++i) CHECK(y[i] == doctest::Approx(y_ref[i]).epsilon(1e-12));
  const auto dy = test::random_tensor<double>(y.shape(), rng);
  store.zero_grad();
  ref_store.zero_grad();
  const tensor<double> dz = dec.backward(dy);
  const auto& dz_ref = ref.backward(dy);
  REQUIRE(dz.shape() == dz_ref.shape());
  for (std::int64_t i = 0; i < dz.numel(); ++i) CHECK(dz[i] == doctest::Approx(dz_ref[i]).epsilon(1e-12));
  for (std::int64_t i = 0; i < store.trainable_size(); ++i)
    CHECK(store.grads()[i] == doctest::Approx(ref_store.grads()[i]).epsilon(1e-12));
}

TEST_CASE("ConvDecoder with 2 residual blocks: gradients match finite differences (double)") {
  generator rng(8);
  ConvDecoder<double> dec(3, 8, 4, 3, 2, res_stack_options{2, 3});
  parameter_store<double> store;
  store.attach(dec, rng);
  auto z = test::random_tensor<double>({2, 3}, rng);
  CHECK(dec.forward(z).shape() == shape{2, 2, 8, 8});
  const auto report = testing::check_layer_gradients(dec, store, z);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == test::layer_checks(z, store));
  // The blocks are on the path: their gradients are not all zero (a skipped block would pass the check above).
  double block_grad = 0;
  for (const auto& e : store.entries())
    if (e.name.find(".c") != std::string::npos)
      for (std::int64_t i = 0; i < e.shape.numel(); ++i) block_grad += std::abs(store.grads()[e.offset + i]);
  CHECK(block_grad > 0);
}

TEST_CASE("ConvDecoder with residual blocks accumulates into parameter gradients") {
  generator rng(12);
  ConvDecoder<double> m(3, 8, 4, 3, 1, res_stack_options{2, 0});
  parameter_store<double> store;
  store.attach(m, rng);
  const auto x = test::random_tensor<double>({2, 3}, rng);
  test::require_accumulates(m, store, x, rng);
}

TEST_CASE("ConvDecoder rejects bad residual options with a clear error") {
  CHECK_THROWS_WITH_AS(ConvDecoder<float>(3, 8, 4, 3, 1, res_stack_options{-3, 0}),
                       doctest::Contains("ConvDecoder: the number of residual blocks and their hidden channels must be "
                                         ">= 0, got blocks = -3"),
                       vae::error);
  CHECK_THROWS_WITH_AS(ConvDecoder<float>(3, 8, 4, 3, 1, res_stack_options{1, -1}), doctest::Contains("hidden = -1"),
                       vae::error);
  // Residual blocks are built on device-like backends too (ResBlock's skip addition is ops::add).
  CHECK_NOTHROW(conv_decoder_res::convdecoder_on_device(3, 8, 4, 3, 1));
  CHECK(conv_decoder_res::convdecoder_on_device(3, 8, 4, 3, 1, res_stack_options{1, 0}).res().blocks() == 1);
}
