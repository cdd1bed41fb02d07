// Conv2d: finite-difference gradients (stride/padding/dilation/groups), PyTorch parity, accumulation, shape errors.
#include "vae/layers/conv2d.hpp"
#include "vae/layers/activations.hpp"

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

TEST_CASE("Conv2d gradients match finite differences (double)") {
  SUBCASE("3x3, stride 1, padding 1") {
    Conv2d<double> layer(2, 3, 3, 1, 1);
    test::check_layer_grads(layer, {2, 2, 5, 4}, 1);
  }
  SUBCASE("4x4, stride 2, padding 1 (the VAE encoder's conv)") {
    Conv2d<double> layer(2, 3, 4, 2, 1);
    test::check_layer_grads(layer, {2, 2, 6, 6}, 2);
  }
  SUBCASE("dilation 2, padding 2, stride 2, groups 2") {
    Conv2d<double> layer(4, 6, 3, 2, 2, 2, 2);
    test::check_layer_grads(layer, {2, 4, 7, 6}, 3);
  }
  SUBCASE("1x1 without bias") {
    Conv2d<double> layer(3, 2, 1, 1, 0, 1, 1, false);
    test::check_layer_grads(layer, {2, 3, 3, 3}, 4);
  }
  SUBCASE("depthwise (groups = channels), stride 3") {
    Conv2d<double> layer(3, 3, 2, 3, 1, 1, 3);
    test::check_layer_grads(layer, {1, 3, 7, 8}, 5);
  }
}

TEST_CASE("Conv2d matches PyTorch nn.Conv2d (float32)") {
  SUBCASE("3x3, padding 1") {
    Conv2d<float> layer(3, 4, 3, 1, 1);
    test::check_conv_parity(layer, "conv2d", "Conv2d");
  }
  SUBCASE("stride 2, padding 2, dilation 2, groups 2") {
    Conv2d<float> layer(4, 6, 3, 2, 2, 2, 2);
    test::check_conv_parity(layer, "conv2d_groups", "Conv2d(groups)");
  }
}

TEST_CASE("Conv2d backward accumulates into parameter gradients") {
  generator rng(6);
  Conv2d<double> layer(2, 3, 3, 2, 1);
  parameter_store<double> store;
  store.attach(layer, rng);
  auto x = test::random_tensor<double>({2, 2, 5, 5}, rng);
  const auto& y = layer.forward(x);
  auto dy = test::random_tensor<double>(y.shape(), rng);
  store.zero_grad();
  const tensor<double> dx1 = layer.backward(dy);
  const std::vector<double> once(store.grads(), store.grads() + store.size());
  const auto& dx2 = layer.backward(dy);
  for (std::int64_t i = 0; i < store.size(); ++i) CHECK(store.grads()[i] == doctest::Approx(2 * once[i]));
  // dx is written, not added: the same computation again, bit for bit.
  for (std::int64_t i = 0; i < dx1.numel(); ++i) CHECK(dx2[i] == dx1[i]);
}

TEST_CASE("Conv2d without input gradient still gives parameter gradients") {
  generator rng(7);
  Conv2d<double> a(2, 3, 3, 1, 1), b(2, 3, 3, 1, 1);
  parameter_store<double> sa, sb;
  sa.attach(a, rng);
  generator rng2(7);
  generator rng3(7);
  sb.attach(b, rng3);
  std::copy(sa.values(), sa.values() + sa.size(), sb.values());
  b.set_input_gradient(false);
  auto x = test::random_tensor<double>({2, 2, 4, 4}, rng2);
  auto dy = test::random_tensor<double>({2, 3, 4, 4}, rng2);
  sa.zero_grad();
  sb.zero_grad();
  a.forward(x);
  a.backward(dy);
  b.forward(x);
  b.backward(dy);
  for (std::int64_t i = 0; i < sa.size(); ++i) CHECK(sb.grads()[i] == doctest::Approx(sa.grads()[i]));
}

TEST_CASE("Conv2d rejects bad shapes and sizes with clear messages") {
  generator rng(8);
  Conv2d<float> layer(3, 4, 3);
  parameter_store<float> store;
  store.attach(layer, rng);
  tensor<float> wrong_c({2, 2, 5, 5}, 0.f);
  CHECK_THROWS_WITH_AS(layer.forward(wrong_c), doctest::Contains("expected input [N, 3, H, W], got [2, 2, 5, 5]"),
                       vae::error);
  tensor<float> flat({2, 75}, 0.f);
  CHECK_THROWS_WITH_AS(layer.forward(flat), doctest::Contains("got [2, 75]"), vae::error);
  tensor<float> tiny({1, 3, 2, 2}, 0.f);
  CHECK_THROWS_WITH_AS(layer.forward(tiny), doctest::Contains("too small"), vae::error);
  CHECK_THROWS_AS(Conv2d<float>(3, 4, 3, 1, 0, 1, 2), vae::error);
}

TEST_CASE("Conv2d parameters get PyTorch names, shapes and default init bounds") {
  generator rng(9);
  Conv2d<float> layer(4, 8, 3, 1, 1, 1, 2);
  parameter_store<float> store;
  store.attach(layer, rng, "enc.0.");
  REQUIRE(store.entries().size() == 2);
  CHECK(store.entries()[0].name == "enc.0.weight");
  CHECK(store.entries()[0].shape == shape{8, 2, 3, 3});
  CHECK(store.entries()[1].name == "enc.0.bias");
  const float bound = 1.0f / std::sqrt(18.0f);
  for (std::int64_t i = 0; i < store.size(); ++i) CHECK(std::abs(store.values()[i]) <= bound);
}

TEST_CASE("Conv2d over a batch cut into several cache-sized chunks equals image-by-image (double)") {
  // 16·9 rows × 256 columns per image: the cpu kernel cuts a batch of 20 into chunks of 7 images (and, with
  // several threads, sums per-thread weight gradients); compare with one image at a time.
  generator rng(10);
  CHECK(test::batch_vs_single_images(Conv2d<double>(16, 4, 3, 1, 1), 20, {16, 16, 16}, {4, 16, 16}, rng) < 1e-10);
}

TEST_CASE("Conv2d with channels-last activations: finite differences, and the NCHW layer's numbers transposed") {
  SUBCASE("gradients (double): the output and the input gradient keep the input's format") {
    Conv2d<double> layer(3, 4, 3, 2, 1);
    test::check_layer_grads(layer, {2, 3, 5, 6}, 20, true);
    generator rng(21);
    parameter_store<double> store;  // the checker's store is gone
    store.attach(layer, rng);
    const auto x = test::to_channels_last(tensor<double>({2, 3, 5, 6}, 0.5));
    CHECK(layer.forward(x).format() == memory_format::channels_last);
    CHECK(layer.forward(x).shape() == shape{2, 3, 3, 4});
  }
  SUBCASE("forward and backward equal the channels_first layer's, transposed") {
    generator rng(9);
    test::twin_layers<Conv2d<double>> t(Conv2d<double>(5, 6, 4, 2, 1), rng);
    const auto x = test::random_tensor<double>({3, 5, 8, 8}, rng);
    const auto dy = test::random_tensor<double>({3, 6, 4, 4}, rng);
    const auto x_cl = test::to_channels_last(x), dy_cl = test::to_channels_last(dy);  // the layers keep &x
    const auto ya = t.a.forward(x);
    const auto yb = t.b.forward(x_cl);
    CHECK(yb.shape() == shape{3, 4, 4, 6});
    CHECK(test::max_abs_diff(test::to_channels_first(yb), ya) < 1e-12);
    t.zero_grad();
    const auto dxa = t.a.backward(dy);
    const auto dxb = t.b.backward(dy_cl);
    CHECK(dxb.format() == memory_format::channels_last);
    CHECK(test::max_abs_diff(test::to_channels_first(dxb), dxa) < 1e-12);
    for (std::int64_t i = 0; i < t.sa.size(); ++i)
      CHECK(t.sb.grads()[i] == doctest::Approx(t.sa.grads()[i]).epsilon(1e-12));
  }
  SUBCASE("a channels-last input names the layout it is read in; groups need NCHW on the cpu") {
    generator rng(10);
    Conv2d<float> layer(3, 4, 3);
    parameter_store<float> store;
    store.attach(layer, rng);
    const auto wrong = test::to_channels_last(tensor<float>({2, 5, 5, 5}, 0.f));  // 5 channels, not 3
    CHECK_THROWS_WITH_AS(layer.forward(wrong), doctest::Contains("expected input [N, H, W, 3] (channels last)"),
                         vae::error);
    Conv2d<float> grouped(4, 4, 3, 1, 1, 1, 2);
    parameter_store<float> grouped_store;
    grouped_store.attach(grouped, rng);
    CHECK_THROWS_WITH_AS(grouped.forward(test::to_channels_last(tensor<float>({1, 4, 5, 5}, 0.f))),
                         doctest::Contains("groups == 1"), vae::error);
  }
}

namespace conv2d_test {
// Two equal 4 → 5 3×3 convolutions, a ReLU for each, an input and an output gradient (NCHW or channels-last), all
// drawn from one generator: the fused-vs-plain epilogue tests below.
struct relu_pair {
  generator rng;
  test::twin_layers<Conv2d<double>> t;
  ReLU<double> ra, rb;
  tensor<double> x, dy;
  relu_pair(std::uint64_t seed, bool cl)
      : rng(seed),
        t(Conv2d<double>(4, 5, 3, 1, 1), rng),
        x(test::random_tensor<double>({2, 4, 6, 6}, rng)),
        dy(test::random_tensor<double>({2, 5, 6, 6}, rng)) {
    if (cl) x = test::to_channels_last(x), dy = test::to_channels_last(dy);
  }
};
}  // namespace conv2d_test

TEST_CASE("Conv2d's ReLU epilogue with ReLU::forward_fused equals Conv2d then ReLU: values and gradients") {
  for (const bool cl : {false, true}) {
    conv2d_test::relu_pair p(11, cl);
    auto& t = p.t;
    auto &a = t.a, &b = t.b;
    auto &ra = p.ra, &rb = p.rb;
    const auto &x = p.x, &dy = p.dy;
    const auto& ya = ra.forward(a.forward(x));
    const auto& yb = rb.forward_fused(b.forward(x, {.relu = true}));
    CHECK(test::max_abs_diff(ya, yb) == 0.0);
    CHECK(yb.format() == x.format());
    t.zero_grad();
    const auto& dxa = a.backward(ra.backward(dy));
    const auto& dxb = b.backward(rb.backward(dy));
    CHECK(test::max_abs_diff(dxa, dxb) == 0.0);
    CHECK(t.same_grads());
  }
}

TEST_CASE("Conv2d's residual epilogue equals forward then the residual addition, bit for bit") {
  // 1×1 from 32 channels (a residual block's c2, channels-last or NCHW) and a few-channel 3×3 (NCHW column path).
  struct named {
    std::int64_t in, out, k, pad;
    bool channels_last;
  };
  for (const named c : {named{32, 16, 1, 0, true}, named{32, 16, 1, 0, false}, named{3, 4, 3, 1, false}}) {
    generator rng(12);
    Conv2d<float> layer(c.in, c.out, c.k, 1, c.pad);
    parameter_store<float> store;
    store.attach(layer, rng);
    auto x = test::random_tensor<float>({5, c.in, 7, 7}, rng);
    auto res = test::random_tensor<float>({5, c.out, 7, 7}, rng);
    if (c.channels_last) x = test::to_channels_last(x), res = test::to_channels_last(res);
    tensor<float> plain = layer.forward(x);
    for (std::int64_t i = 0; i < plain.numel(); ++i) plain.data()[i] = res.data()[i] + plain.data()[i];
    const auto& fused = layer.forward(x, {.residual = &res});
    CHECK(test::max_abs_diff(fused, plain) == 0.0);
    CHECK(test::max_abs_diff(fused, res) > 0.0);  // the convolution contributed
    const tensor<float> wrong({5, 7, 7, 3}, 0.f);
    CHECK_THROWS_WITH_AS(layer.forward(x, {.residual = &wrong}), doctest::Contains("residual"), vae::error);
    CHECK_THROWS_WITH_AS(layer.forward(x, {.relu = true, .residual = &res}), doctest::Contains("not supported"),
                         vae::error);
  }
}

TEST_CASE("Conv2d's ReLU-input gradient with ReLU::backward_fused equals ReLU then Conv2d backward, with a residual") {
  for (const bool cl : {false, true}) {
    conv2d_test::relu_pair p(21, cl);
    auto& t = p.t;
    auto &a = t.a, &b = t.b;
    auto &ra = p.ra, &rb = p.rb;
    const auto &x = p.x, &dy = p.dy;
    auto skip = test::random_tensor<double>({2, 4, 6, 6}, p.rng);
    if (cl) skip = test::to_channels_last(skip);
    a.forward(ra.forward(x));
    b.forward(rb.forward(x));
    t.zero_grad();
    const tensor<double> dxa = ra.backward(a.backward(dy));
    const tensor<double> dxb = rb.backward_fused(b.backward(dy, {.relu_input = true}));
    CHECK(test::max_abs_diff(dxa, dxb) == 0.0);
    CHECK(t.same_grads());
    tensor<double> with_skip = dxa;
    for (std::int64_t i = 0; i < with_skip.numel(); ++i) with_skip.data()[i] = skip.data()[i] + dxa.data()[i];
    CHECK(test::max_abs_diff(b.backward(dy, {.relu_input = true, .residual = &skip}), with_skip) == 0.0);
    const tensor<double> wrong({2, 4, 6, 7}, 0.0);
    CHECK_THROWS_WITH_AS(b.backward(dy, {.relu_input = true, .residual = &wrong}), doctest::Contains("residual"),
                         vae::error);
    CHECK_THROWS_WITH_AS(rb.backward_fused(wrong), doctest::Contains("expected shape"), vae::error);
  }
  ReLU<double> fresh;
  CHECK_THROWS_WITH_AS(fresh.backward_fused(tensor<double>({1, 2}, 0.0)), doctest::Contains("before forward"),
                       vae::error);
}

TEST_CASE("Conv2d on channels-last activations: the cpu backend computes a 3x3 through Winograd") {
  // A residual block's c1 in channels-last: the cpu kernel's plan takes Winograd; the layer's output is that path's,
  // bit for bit, and agrees with the direct product to float rounding.
  generator rng(41);
  Conv2d<float> layer(128, 32, 3, 1, 1);
  parameter_store<float> store;
  store.attach(layer, rng);
  const auto x = test::to_channels_last(test::random_tensor<float>({4, 128, 7, 7}, rng));
  const auto& y = layer.forward(x);
  conv2d_dims dims{4, 128, 7, 7, 32, 3, 3};
  dims.pad_h = dims.pad_w = 1;
  cpu_detail::conv2d_plan d(dims.finish(), memory_format::channels_last);
  using K = kernel<conv2d_op, cpu>;
  REQUIRE(K::path_for(d) == cpu_detail::conv_path::winograd);
  std::vector<float> direct;
  for (const auto path : {cpu_detail::conv_path::channels_last, cpu_detail::conv_path::winograd}) {
    std::vector<float> out(static_cast<std::size_t>(y.numel())), scratch(static_cast<std::size_t>(K::scratch_size(d, path)));
    K::forward(d, x.data(), layer.weight().value, layer.bias().value, out.data(), scratch.data(), path);
    if (path == cpu_detail::conv_path::winograd) CHECK(std::equal(out.begin(), out.end(), y.data()));
    else direct = out;
  }
  // The two agree to float rounding (sums of 1,152 products of unit-normal inputs and small weights) and differ.
  double worst = 0;
  bool differ = false;
  for (std::int64_t i = 0; i < y.numel(); ++i) {
    worst = std::max(worst, double(std::abs(direct[static_cast<std::size_t>(i)] - y.data()[i])));
    differ = differ || direct[static_cast<std::size_t>(i)] != y.data()[i];
  }
  MESSAGE("Conv2d 128->32 3x3 float, direct vs Winograd: max abs difference " << worst);
  CHECK(worst < 1e-4);
  CHECK(differ);
}

TEST_CASE("Conv2d keeps nothing in the shared scratch between calls: another layer's larger call in between changes nothing") {
  // Every convolution of a thread shares one scratch buffer (core/op_scratch.hpp); a layer whose backward read what
  // its forward left there would see the other layer's columns here. Small (columns), wide (channels-last columns,
  // Winograd where it fits) and both activation formats.
  struct config {
    std::int64_t in, out, k, stride, pad, h, w;
  };
  for (const config c : {config{3, 4, 3, 1, 1, 6, 5}, config{32, 32, 3, 1, 1, 12, 12}, config{32, 16, 4, 2, 1, 10, 10}}) {
    for (const bool last : {false, true}) {
      CAPTURE(c.in);
      CAPTURE(last);
      generator rng(7);
      Conv2d<float> a(c.in, c.out, c.k, c.stride, c.pad), b(8, 64, 3, 1, 1);
      parameter_store<float> sa, sb;
      sa.attach(a, rng);
      sb.attach(b, rng);
      auto in_format = [&](const tensor<float>& t) { return last ? test::to_channels_last(t) : t; };
      const auto x = in_format(test::random_tensor<float>({2, c.in, c.h, c.w}, rng));
      const auto xb = in_format(test::random_tensor<float>({4, 8, 40, 40}, rng));
      const tensor<float> y_alone = a.forward(x);
      const auto dy = test::random_tensor<float>(y_alone.shape(), rng);  // laid out as y
      sa.zero_grad();
      const tensor<float> dx_alone = a.backward(dy);
      const std::vector<float> dw_alone(sa.grads(), sa.grads() + sa.size());

      const tensor<float> y = a.forward(x);
      b.forward(xb);  // a larger call: grows the scratch and overwrites it
      sa.zero_grad();
      const tensor<float> dx = a.backward(dy);
      for (std::int64_t i = 0; i < y.numel(); ++i) REQUIRE(y[i] == y_alone[i]);
      for (std::int64_t i = 0; i < dx.numel(); ++i) REQUIRE(dx[i] == dx_alone[i]);
      for (std::int64_t i = 0; i < sa.size(); ++i) REQUIRE(sa.grads()[i] == dw_alone[i]);
    }
  }
}
