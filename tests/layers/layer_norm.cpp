// LayerNorm: finite-difference gradients, PyTorch parity, accumulation, wide rows (column blocks), errors.
#include "vae/layers/layer_norm.hpp"

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Layer<LayerNorm<float>> && Layer<LayerNorm<double>>);

namespace {
template <class T>
tensor<T> ln_grad_of(parameter<T>& p) {
  tensor<T> g(p.shape);
  std::copy(p.grad, p.grad + g.numel(), g.data());
  return g;
}
void randomise_affine(LayerNorm<double>& layer, generator& rng) {
  rng.fill_normal(layer.weight().value, layer.weight().numel(), 1.0, 0.5);
  rng.fill_normal(layer.bias().value, layer.bias().numel(), 0.0, 0.5);
}
}  // namespace

TEST_CASE("LayerNorm gradients match finite differences (double)") {
  generator rng(1);
  LayerNorm<double> layer(7);
  parameter_store<double> store;
  store.attach(layer, rng);
  randomise_affine(layer, rng);
  auto x = test::random_tensor<double>({2, 3, 7}, rng, 2.0);
  const auto report = testing::check_layer_gradients(layer, store, x);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == 42 + 7 + 7);
}

TEST_CASE("LayerNorm gradients: no affine; rows wider than one column block") {
  {
    generator rng(2);
    LayerNorm<double> layer(5, 1e-5, false);
    parameter_store<double> store;
    store.attach(layer, rng);
    CHECK(store.entries().empty());
    auto x = test::random_tensor<double>({4, 5}, rng);
    const auto report = testing::check_layer_gradients(layer, store, x);
    INFO("affine=false: " << report.summary());
    CHECK(report.ok);
    CHECK(report.checked == test::layer_checks(x, store));
  }
  {
    generator rng(3);
    LayerNorm<double> layer(150);  // 3 column blocks of the parameter-gradient reduction, the last partial
    parameter_store<double> store;
    store.attach(layer, rng);
    randomise_affine(layer, rng);
    auto x = test::random_tensor<double>({3, 150}, rng);
    testing::gradcheck_options opt;
    opt.max_checks_per_tensor = 150;
    const auto report = testing::check_layer_gradients(layer, store, x, opt);
    INFO("D=150: " << report.summary());
    CHECK(report.ok);
    CHECK(report.checked == 150 + 150 + 150);
  }
}

TEST_CASE("LayerNorm matches PyTorch nn.LayerNorm (float32)") {
  const auto f = test::golden("layer_norm");
  generator rng(0);
  LayerNorm<float> layer(8);
  parameter_store<float> store;
  store.attach(layer, rng);
  test::load_into(layer.weight(), f, "weight");
  test::load_into(layer.bias(), f, "bias");
  const auto x = f.at("x").to_tensor<float>();
  const auto r = f.at("r").to_tensor<float>();
  test::require_parity(layer.forward(x), f, "y", "LayerNorm forward");
  store.zero_grad();
  test::require_parity(layer.backward(r), f, "dx", "LayerNorm dx");
  test::require_parity(ln_grad_of(layer.weight()), f, "dweight", "LayerNorm dweight");
  test::require_parity(ln_grad_of(layer.bias()), f, "dbias", "LayerNorm dbias");
}

TEST_CASE("LayerNorm backward accumulates into parameter gradients") {
  generator rng(4);
  LayerNorm<double> layer(6);
  parameter_store<double> store;
  store.attach(layer, rng);
  randomise_affine(layer, rng);
  auto x = test::random_tensor<double>({3, 6}, rng);
  auto dy = test::random_tensor<double>({3, 6}, rng);
  store.zero_grad();
  layer.forward(x);
  const auto dx1 = layer.backward(dy);
  const std::vector<double> once(store.grads(), store.grads() + store.size());
  const auto& dx2 = layer.backward(dy);
  for (std::int64_t i = 0; i < store.size(); ++i) CHECK(store.grads()[i] == doctest::Approx(2 * once[i]));
  for (std::int64_t i = 0; i < dx1.numel(); ++i) CHECK(dx2[i] == dx1[i]);
}

TEST_CASE("LayerNorm names its parameters like PyTorch and initialises them to 1 and 0") {
  generator rng(5);
  LayerNorm<float> layer(3);
  parameter_store<float> store;
  store.attach(layer, rng, "blocks.0.ln_1.");
  REQUIRE(store.entries().size() == 2);
  CHECK(store.entries()[0].name == "blocks.0.ln_1.weight");
  CHECK(store.entries()[1].name == "blocks.0.ln_1.bias");
  for (int j = 0; j < 3; ++j) {
    CHECK(layer.weight().value[j] == 1.f);
    CHECK(layer.bias().value[j] == 0.f);
  }
}

TEST_CASE("LayerNorm rejects a wrong last dimension with the shapes in the message") {
  CHECK_THROWS_WITH_AS(LayerNorm<float>(0), doctest::Contains("normalized_shape must be positive, got 0"), vae::error);
  generator rng(6);
  LayerNorm<float> layer(4);
  parameter_store<float> store;
  store.attach(layer, rng);
  CHECK_THROWS_WITH_AS(layer.backward(tensor<float>({2, 4}, 0.f)), doctest::Contains("called before forward"),
                       vae::error);
  tensor<float> x({2, 5}, 0.f);
  CHECK_THROWS_WITH_AS(layer.forward(x), doctest::Contains("expected input [..., 4], got [2, 5]"), vae::error);
  tensor<float> ok({2, 4}, 1.f);
  layer.forward(ok);
  CHECK_THROWS_WITH_AS(layer.backward(tensor<float>({4, 2}, 0.f)),
                       doctest::Contains("expected shape [2, 4], got [4, 2]"), vae::error);
  LayerNorm<float> unattached(4);
  CHECK_THROWS_WITH_AS(unattached.forward(ok), doctest::Contains("not attached"), vae::error);
}

TEST_CASE("LayerNorm gradients on an input large enough for the parallel path (double)") {
  generator rng(8);
  LayerNorm<double> layer(200);
  parameter_store<double> store;
  store.attach(layer, rng);
  randomise_affine(layer, rng);
  auto x = test::random_tensor<double>({96, 200}, rng);
  testing::gradcheck_options opt;
  opt.max_checks_per_tensor = 40;
  const auto report = testing::check_layer_gradients(layer, store, x, opt);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == test::layer_checks(x, store, opt.max_checks_per_tensor));
}
