// ConvTranspose2d: finite-difference gradients (stride/padding/output_padding/dilation/groups), PyTorch parity,
// accumulation, shape errors.
#include "vae/layers/conv_transpose2d.hpp"
#include "vae/layers/activations.hpp"

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

TEST_CASE("ConvTranspose2d gradients match finite differences (double)") {
  SUBCASE("4x4, stride 2, padding 1 (the VAE decoder's layer)") {
    ConvTranspose2d<double> layer(2, 3, 4, 2, 1);
    test::check_layer_grads(layer, {2, 2, 3, 3}, 1);
  }
  SUBCASE("3x3, stride 1, padding 1") {
    ConvTranspose2d<double> layer(3, 2, 3, 1, 1);
    test::check_layer_grads(layer, {2, 3, 3, 4}, 2);
  }
  SUBCASE("stride 2, padding 1, output_padding 1, dilation 2, groups 2") {
    ConvTranspose2d<double> layer(4, 6, 3, 2, 1, 1, 2, true, 2);
    test::check_layer_grads(layer, {2, 4, 3, 2}, 3);
  }
  SUBCASE("1x1, dilation 2, output_padding 1 (output larger than input)") {
    ConvTranspose2d<double> layer(3, 2, 1, 1, 0, 1, 1, true, 2);
    test::check_layer_grads(layer, {2, 3, 3, 2}, 5);
  }
  SUBCASE("1x1 pointwise") {
    ConvTranspose2d<double> layer(3, 2, 1);
    test::check_layer_grads(layer, {2, 3, 3, 2}, 6);
  }
  SUBCASE("stride 3 without bias, output_padding 2") {
    ConvTranspose2d<double> layer(2, 2, 2, 3, 0, 2, 1, false);
    test::check_layer_grads(layer, {1, 2, 3, 3}, 4);
  }
}

TEST_CASE("ConvTranspose2d matches PyTorch nn.ConvTranspose2d (float32)") {
  SUBCASE("4x4, stride 2, padding 1") {
    ConvTranspose2d<float> layer(3, 4, 4, 2, 1);
    test::check_conv_parity(layer, "conv_transpose2d", "ConvTranspose2d");
  }
  SUBCASE("stride 2, padding 1, output_padding 1, dilation 2, groups 2") {
    ConvTranspose2d<float> layer(4, 6, 3, 2, 1, 1, 2, true, 2);
    test::check_conv_parity(layer, "conv_transpose2d_groups", "ConvTranspose2d(groups)");
  }
}

TEST_CASE("ConvTranspose2d backward accumulates into parameter gradients") {
  generator rng(6);
  ConvTranspose2d<double> layer(2, 3, 4, 2, 1);
  parameter_store<double> store;
  store.attach(layer, rng);
  auto x = test::random_tensor<double>({2, 2, 3, 3}, rng);
  const auto& y = layer.forward(x);
  auto dy = test::random_tensor<double>(y.shape(), rng);
  store.zero_grad();
  const tensor<double> dx1 = layer.backward(dy);
  const std::vector<double> once(store.grads(), store.grads() + store.size());
  const auto& dx2 = layer.backward(dy);
  for (std::int64_t i = 0; i < store.size(); ++i) CHECK(store.grads()[i] == doctest::Approx(2 * once[i]));
  for (std::int64_t i = 0; i < dx1.numel(); ++i) CHECK(dx2[i] == dx1[i]);  // written, not added: bit for bit
}

TEST_CASE("ConvTranspose2d rejects bad shapes and sizes with clear messages") {
  generator rng(8);
  ConvTranspose2d<float> layer(3, 4, 4, 2, 1);
  parameter_store<float> store;
  store.attach(layer, rng);
  tensor<float> wrong_c({2, 2, 5, 5}, 0.f);
  CHECK_THROWS_WITH_AS(layer.forward(wrong_c), doctest::Contains("expected input [N, 3, H, W], got [2, 2, 5, 5]"),
                       vae::error);
  tensor<float> flat({2, 75}, 0.f);
  CHECK_THROWS_WITH_AS(layer.forward(flat), doctest::Contains("got [2, 75]"), vae::error);
  CHECK_THROWS_AS(ConvTranspose2d<float>(3, 4, 3, 2, 0, 2), vae::error);     // output_padding ≥ stride
  CHECK_THROWS_AS(ConvTranspose2d<float>(3, 4, 3, 1, 0, 0, 2), vae::error);  // 3 channels in 2 groups
}

TEST_CASE("ConvTranspose2d parameters get PyTorch names, shapes and default init bounds") {
  generator rng(9);
  ConvTranspose2d<float> layer(4, 6, 3, 2, 1, 0, 2);
  parameter_store<float> store;
  store.attach(layer, rng, "dec.0.");
  REQUIRE(store.entries().size() == 2);
  CHECK(store.entries()[0].name == "dec.0.weight");
  CHECK(store.entries()[0].shape == shape{4, 3, 3, 3});
  CHECK(store.entries()[1].name == "dec.0.bias");
  const float bound = 1.0f / std::sqrt(27.0f);
  for (std::int64_t i = 0; i < store.size(); ++i) CHECK(std::abs(store.values()[i]) <= bound);
}

TEST_CASE("ConvTranspose2d over a batch cut into several cache-sized chunks equals image-by-image (double)") {
  // 16·16 rows × 64 columns per image: the cpu kernel cuts a batch of 40 into chunks of 16 images (and, with
  // several threads, sums per-thread weight gradients); compare with one image at a time.
  generator rng(10);
  CHECK(test::batch_vs_single_images(ConvTranspose2d<double>(8, 16, 4, 2, 1), 40, {8, 8, 8}, {16, 16, 16}, rng) <
        1e-10);
}

TEST_CASE("ConvTranspose2d with channels-last activations: finite differences (double), the format kept") {
  ConvTranspose2d<double> layer(3, 2, 4, 2, 1);
  test::check_layer_grads(layer, {2, 3, 3, 4}, 30, true);
  generator rng(31);
  parameter_store<double> store;  // the checker's store is gone
  store.attach(layer, rng);
  const auto x = test::to_channels_last(tensor<double>({2, 3, 3, 4}, 0.5));
  CHECK(layer.forward(x).shape() == shape{2, 6, 8, 2});
  CHECK(layer.forward(x).format() == memory_format::channels_last);
}

TEST_CASE("ConvTranspose2d's ReLU-input gradient with ReLU::backward_fused equals ReLU then ConvTranspose2d backward") {
  for (const bool cl : {false, true}) {
    generator rng(23);
    test::twin_layers<ConvTranspose2d<double>> t(ConvTranspose2d<double>(16, 3, 4, 2, 1), rng);
    auto &a = t.a, &b = t.b;
    ReLU<double> ra, rb;
    auto x = test::random_tensor<double>({3, 16, 5, 5}, rng);
    auto dy = test::random_tensor<double>({3, 3, 10, 10}, rng);
    if (cl) x = test::to_channels_last(x), dy = test::to_channels_last(dy);
    a.forward(ra.forward(x));
    b.forward(rb.forward(x));
    t.zero_grad();
    const tensor<double> dxa = ra.backward(a.backward(dy));
    const auto& dxb = rb.backward_through(b, dy);  // the conv applies the ReLU's derivative
    CHECK(test::max_abs_diff(dxa, dxb) == 0.0);
    CHECK(test::max_abs_diff(dxa, tensor<double>(dxa.shape(), 0.0)) > 0.0);
    CHECK(t.same_grads());
  }
}

TEST_CASE("ConvTranspose2d's epilogues equal the separate ReLU and residual additions, bit for bit") {
  // 32 → 16 4×4 stride 2 (a decoder's upsampling: channels-last takes Winograd on the cpu) and 3 → 2 (NCHW columns).
  struct named {
    std::int64_t in, out;
    bool channels_last;
  };
  for (const named c : {named{32, 16, true}, named{32, 16, false}, named{3, 2, false}}) {
    generator rng(24);
    test::twin_layers<ConvTranspose2d<float>> t(ConvTranspose2d<float>(c.in, c.out, 4, 2, 1), rng);
    auto x = test::random_tensor<float>({3, c.in, 5, 5}, rng);
    auto res = test::random_tensor<float>({3, c.out, 10, 10}, rng);
    auto dx_res = test::random_tensor<float>({3, c.in, 5, 5}, rng);
    auto dy = test::random_tensor<float>({3, c.out, 10, 10}, rng);
    if (c.channels_last)
      x = test::to_channels_last(x), res = test::to_channels_last(res), dx_res = test::to_channels_last(dx_res),
      dy = test::to_channels_last(dy);
    tensor<float> plain = t.a.forward(x);
    tensor<float> relu = plain, added = plain;
    for (std::int64_t i = 0; i < plain.numel(); ++i) {
      relu.data()[i] = plain.data()[i] > 0.f ? plain.data()[i] : 0.f;
      added.data()[i] = res.data()[i] + plain.data()[i];
    }
    CHECK(test::max_abs_diff(t.b.forward(x, {.relu = true}), relu) == 0.0);
    CHECK(test::max_abs_diff(t.b.forward(x, {.residual = &res}), added) == 0.0);
    tensor<float> dx = t.a.backward(dy);
    for (std::int64_t i = 0; i < dx.numel(); ++i) dx.data()[i] = dx_res.data()[i] + dx.data()[i];
    CHECK(test::max_abs_diff(t.b.backward(dy, {.residual = &dx_res}), dx) == 0.0);
  }
}
