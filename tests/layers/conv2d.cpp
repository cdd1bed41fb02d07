// Conv2d: finite-difference gradients (stride/padding/dilation/groups), PyTorch parity, accumulation, shape errors.
#include "vae/layers/conv2d.hpp"
#include "vae/layers/activations.hpp"

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

namespace {
void check_grads(Conv2d<double>& layer, shape x_shape, std::uint64_t seed) {
  generator rng(seed);
  parameter_store<double> store;
  store.attach(layer, rng);
  auto x = test::random_tensor<double>(x_shape, rng);
  const auto report = testing::check_layer_gradients(layer, store, x);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == test::layer_checks(x, store));
}

template <class L>
void conv2d_check_parity(L& layer, const std::string& fixture, const std::string& label) {
  const auto f = test::golden(fixture);
  generator rng(0);
  parameter_store<float> store;
  store.attach(layer, rng);
  test::load_into(layer.weight(), f, "weight");
  test::load_into(layer.bias(), f, "bias");
  const auto x = f.at("x").to_tensor<float>();
  const auto r = f.at("r").to_tensor<float>();
  test::require_parity(layer.forward(x), f, "y", label + " forward");
  store.zero_grad();
  test::require_parity(layer.backward(r), f, "dx", label + " dx");
  tensor<float> dw(layer.weight().shape), db(layer.bias().shape);
  std::copy(layer.weight().grad, layer.weight().grad + dw.numel(), dw.data());
  std::copy(layer.bias().grad, layer.bias().grad + db.numel(), db.data());
  test::require_parity(dw, f, "dweight", label + " dweight");
  test::require_parity(db, f, "dbias", label + " dbias");
}
}  // namespace

TEST_CASE("Conv2d gradients match finite differences (double)") {
  SUBCASE("3x3, stride 1, padding 1") {
    Conv2d<double> layer(2, 3, 3, 1, 1);
    check_grads(layer, {2, 2, 5, 4}, 1);
  }
  SUBCASE("4x4, stride 2, padding 1 (the VAE encoder's conv)") {
    Conv2d<double> layer(2, 3, 4, 2, 1);
    check_grads(layer, {2, 2, 6, 6}, 2);
  }
  SUBCASE("dilation 2, padding 2, stride 2, groups 2") {
    Conv2d<double> layer(4, 6, 3, 2, 2, 2, 2);
    check_grads(layer, {2, 4, 7, 6}, 3);
  }
  SUBCASE("1x1 without bias") {
    Conv2d<double> layer(3, 2, 1, 1, 0, 1, 1, false);
    check_grads(layer, {2, 3, 3, 3}, 4);
  }
  SUBCASE("depthwise (groups = channels), stride 3") {
    Conv2d<double> layer(3, 3, 2, 3, 1, 1, 3);
    check_grads(layer, {1, 3, 7, 8}, 5);
  }
}

TEST_CASE("Conv2d matches PyTorch nn.Conv2d (float32)") {
  SUBCASE("3x3, padding 1") {
    Conv2d<float> layer(3, 4, 3, 1, 1);
    conv2d_check_parity(layer, "conv2d", "Conv2d");
  }
  SUBCASE("stride 2, padding 2, dilation 2, groups 2") {
    Conv2d<float> layer(4, 6, 3, 2, 2, 2, 2);
    conv2d_check_parity(layer, "conv2d_groups", "Conv2d(groups)");
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
  Conv2d<double> batch(16, 4, 3, 1, 1), single(16, 4, 3, 1, 1);
  parameter_store<double> sb, ss;
  sb.attach(batch, rng);
  ss.attach(single, rng);
  std::copy(sb.values(), sb.values() + sb.size(), ss.values());
  const std::int64_t n = 20, img = 16 * 16 * 16, out = 4 * 16 * 16;
  auto x = test::random_tensor<double>({n, 16, 16, 16}, rng);
  auto dy = test::random_tensor<double>({n, 4, 16, 16}, rng);
  sb.zero_grad();
  ss.zero_grad();
  const tensor<double> y = batch.forward(x);
  const tensor<double> dx = batch.backward(dy);
  double max_err = 0;
  for (std::int64_t b = 0; b < n; ++b) {
    tensor<double> xi({1, 16, 16, 16}), dyi({1, 4, 16, 16});
    std::copy(x.data() + b * img, x.data() + (b + 1) * img, xi.data());
    std::copy(dy.data() + b * out, dy.data() + (b + 1) * out, dyi.data());
    const auto& yi = single.forward(xi);
    for (std::int64_t i = 0; i < out; ++i) max_err = std::max(max_err, std::abs(yi[i] - y[b * out + i]));
    const auto& dxi = single.backward(dyi);
    for (std::int64_t i = 0; i < img; ++i) max_err = std::max(max_err, std::abs(dxi[i] - dx[b * img + i]));
  }
  for (std::int64_t i = 0; i < sb.size(); ++i) max_err = std::max(max_err, std::abs(sb.grads()[i] - ss.grads()[i]));
  CHECK(max_err < 1e-10);
}

TEST_CASE("Conv2d with channels-last activations: finite differences, and the NCHW layer's numbers transposed") {
  SUBCASE("gradients (double), every input/output layout") {
    const memory_format first = memory_format::channels_first, last = memory_format::channels_last;
    const std::pair<memory_format, memory_format> formats[] = {{first, last}, {last, first}, {last, last}};
    std::uint64_t seed = 20;
    for (const auto& [in, out] : formats) {
      Conv2d<double> layer(3, 4, 3, 2, 1);
      layer.set_memory_format(in, out);
      const shape xs = in == last ? shape{2, 5, 6, 3} : shape{2, 3, 5, 6};
      check_grads(layer, xs, seed++);
    }
  }
  SUBCASE("forward and backward equal the channels_first layer's, transposed") {
    generator rng(9);
    Conv2d<double> a(5, 6, 4, 2, 1), b(5, 6, 4, 2, 1);
    parameter_store<double> sa, sb;
    sa.attach(a, rng);
    sb.attach(b, rng);
    std::copy(sa.values(), sa.values() + sa.size(), sb.values());
    b.set_memory_format(memory_format::channels_last, memory_format::channels_last);
    const auto x = test::random_tensor<double>({3, 5, 8, 8}, rng);
    const auto dy = test::random_tensor<double>({3, 6, 4, 4}, rng);
    const auto x_cl = test::to_channels_last(x), dy_cl = test::to_channels_last(dy);  // the layers keep &x
    const auto ya = a.forward(x);
    const auto yb = b.forward(x_cl);
    CHECK(yb.shape() == shape{3, 4, 4, 6});
    CHECK(test::max_abs_diff(test::to_channels_first(yb), ya) < 1e-12);
    sa.zero_grad();
    sb.zero_grad();
    const auto dxa = a.backward(dy);
    const auto dxb = b.backward(dy_cl);
    CHECK(test::max_abs_diff(test::to_channels_first(dxb), dxa) < 1e-12);
    for (std::int64_t i = 0; i < sa.size(); ++i) CHECK(sb.grads()[i] == doctest::Approx(sa.grads()[i]).epsilon(1e-12));
  }
  SUBCASE("a channels-last layer names the layout it expects") {
    generator rng(10);
    Conv2d<float> layer(3, 4, 3);
    layer.set_memory_format(memory_format::channels_last, memory_format::channels_first);
    parameter_store<float> store;
    store.attach(layer, rng);
    tensor<float> nchw({2, 3, 5, 5}, 0.f);
    CHECK_THROWS_WITH_AS(layer.forward(nchw), doctest::Contains("expected input [N, H, W, 3] (channels last)"),
                         vae::error);
    CHECK_THROWS_WITH_AS(Conv2d<float>(4, 4, 3, 1, 1, 1, 2).set_memory_format(memory_format::channels_last,
                                                                             memory_format::channels_last),
                         doctest::Contains("groups == 1"), vae::error);
  }
}

namespace conv2d_test {
// Two equal 4 → 5 3×3 convolutions (NCHW or channels-last in and out), a ReLU for each, an input and an output
// gradient, all drawn from one generator: the fused-vs-plain ReLU tests below.
struct relu_pair {
  generator rng;
  test::twin_layers<Conv2d<double>> t;
  ReLU<double> ra, rb;
  tensor<double> x, dy;
  relu_pair(std::uint64_t seed, bool cl)
      : rng(seed),
        t(Conv2d<double>(4, 5, 3, 1, 1), rng),
        x(test::random_tensor<double>(cl ? shape{2, 6, 6, 4} : shape{2, 4, 6, 6}, rng)),
        dy(test::random_tensor<double>(cl ? shape{2, 6, 6, 5} : shape{2, 5, 6, 6}, rng)) {
    const auto f = cl ? memory_format::channels_last : memory_format::channels_first;
    t.set_memory_format(f, f);
  }
};
}  // namespace conv2d_test

TEST_CASE("Conv2d::forward_relu with ReLU::forward_fused equals Conv2d then ReLU: values and gradients") {
  for (const bool cl : {false, true}) {
    conv2d_test::relu_pair p(11, cl);
    auto& t = p.t;
    auto &a = t.a, &b = t.b;
    auto &ra = p.ra, &rb = p.rb;
    const auto &x = p.x, &dy = p.dy;
    const auto& ya = ra.forward(a.forward(x));
    const auto& yb = rb.forward_fused(b.forward_relu(x));
    CHECK(test::max_abs_diff(ya, yb) == 0.0);
    t.zero_grad();
    const auto& dxa = a.backward(ra.backward(dy));
    const auto& dxb = b.backward(rb.backward(dy));
    CHECK(test::max_abs_diff(dxa, dxb) == 0.0);
    CHECK(t.same_grads());
  }
}

TEST_CASE("Conv2d::forward_add equals forward then the residual addition, bit for bit") {
  // 1×1 from 32 channels (a residual block's c2, channels-last or NCHW) and a few-channel 3×3 (NCHW column path).
  struct named {
    std::int64_t in, out, k, pad;
    bool channels_last;
  };
  for (const named c : {named{32, 16, 1, 0, true}, named{32, 16, 1, 0, false}, named{3, 4, 3, 1, false}}) {
    generator rng(12);
    Conv2d<float> layer(c.in, c.out, c.k, 1, c.pad);
    const auto f = c.channels_last ? memory_format::channels_last : memory_format::channels_first;
    layer.set_memory_format(f, f);
    parameter_store<float> store;
    store.attach(layer, rng);
    const auto x = test::random_tensor<float>(c.channels_last ? shape{5, 7, 7, c.in} : shape{5, c.in, 7, 7}, rng);
    const auto res = test::random_tensor<float>(c.channels_last ? shape{5, 7, 7, c.out} : shape{5, c.out, 7, 7}, rng);
    tensor<float> plain = layer.forward(x);
    for (std::int64_t i = 0; i < plain.numel(); ++i) plain.data()[i] = res.data()[i] + plain.data()[i];
    const auto& fused = layer.forward_add(x, res);
    CHECK(test::max_abs_diff(fused, plain) == 0.0);
    CHECK(test::max_abs_diff(fused, res) > 0.0);  // the convolution contributed
    const tensor<float> wrong({5, 7, 7, 3}, 0.f);
    CHECK_THROWS_WITH_AS(layer.forward_add(x, wrong), doctest::Contains("residual"), vae::error);
  }
}

TEST_CASE("Conv2d::backward_relu_input with ReLU::backward_fused equals ReLU then Conv2d backward, with a residual") {
  for (const bool cl : {false, true}) {
    conv2d_test::relu_pair p(21, cl);
    auto& t = p.t;
    auto &a = t.a, &b = t.b;
    auto &ra = p.ra, &rb = p.rb;
    const auto &x = p.x, &dy = p.dy;
    const auto skip = test::random_tensor<double>(x.shape(), p.rng);
    a.forward(ra.forward(x));
    b.forward(rb.forward(x));
    t.zero_grad();
    const tensor<double> dxa = ra.backward(a.backward(dy));
    const tensor<double> dxb = rb.backward_fused(b.backward_relu_input(dy));
    CHECK(test::max_abs_diff(dxa, dxb) == 0.0);
    CHECK(t.same_grads());
    tensor<double> with_skip = dxa;
    for (std::int64_t i = 0; i < with_skip.numel(); ++i) with_skip.data()[i] = skip.data()[i] + dxa.data()[i];
    CHECK(test::max_abs_diff(b.backward_relu_input(dy, &skip), with_skip) == 0.0);
    const tensor<double> wrong({2, 4, 6, 7}, 0.0);
    CHECK_THROWS_WITH_AS(b.backward_relu_input(dy, &wrong), doctest::Contains("residual"), vae::error);
    CHECK_THROWS_WITH_AS(rb.backward_fused(wrong), doctest::Contains("expected shape"), vae::error);
  }
  ReLU<double> fresh;
  CHECK_THROWS_WITH_AS(fresh.backward_fused(tensor<double>({1, 2}, 0.0)), doctest::Contains("before forward"),
                       vae::error);
}

TEST_CASE("Conv2d::set_winograd: off keeps the direct product, on (the default) computes through Winograd") {
  // A residual block's c1 in channels-last: a convolution the host kernel can compute either way.
  generator rng(41);
  test::twin_layers<Conv2d<float>> t(Conv2d<float>(128, 32, 3, 1, 1), rng);
  t.set_memory_format(memory_format::channels_last, memory_format::channels_last);
  t.a.set_winograd(false);
  const auto x = test::random_tensor<float>({4, 7, 7, 128}, rng);
  const auto& direct = t.a.forward(x);
  const auto& wino = t.b.forward(x);
  // Each equals its kernel path called directly, bit for bit.
  conv2d_dims d{4, 128, 7, 7, 32, 3, 3};
  d.pad_h = d.pad_w = 1;
  d.channels_last_in = d.channels_last_out = true;
  d.finish();
  using K = kernel<conv2d_op, cpu>;
  for (const auto path : {cpu_detail::conv_path::channels_last, cpu_detail::conv_path::winograd}) {
    std::vector<float> y(static_cast<std::size_t>(direct.numel())), scratch(static_cast<std::size_t>(K::scratch_size(d, path)));
    K::forward(d, x.data(), t.a.weight().value, t.a.bias().value, y.data(), scratch.data(), path);
    const auto& layer_y = path == cpu_detail::conv_path::winograd ? wino : direct;
    CHECK(std::equal(y.begin(), y.end(), layer_y.data()));
  }
  // The two agree to float rounding (sums of 1,152 products of unit-normal inputs and small weights) and differ.
  double worst = 0;
  bool differ = false;
  for (std::int64_t i = 0; i < direct.numel(); ++i) {
    worst = std::max(worst, double(std::abs(direct.data()[i] - wino.data()[i])));
    differ = differ || direct.data()[i] != wino.data()[i];
  }
  MESSAGE("Conv2d 128->32 3x3 float, direct vs Winograd: max abs difference " << worst);
  CHECK(worst < 1e-4);
  CHECK(differ);
}
