// Residual: y = x + L(x) gradients (Linear and a small Sequential inside), accumulation, names, shape errors.
#include "vae/layers/residual.hpp"

#include "../test_support.hpp"
#include "vae/layers/activations.hpp"
#include "vae/layers/dropout.hpp"
#include "vae/layers/linear.hpp"
#include "vae/layers/sequential.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Layer<Residual<Linear<float>>> && HasTrainingMode<Residual<Linear<float>>>);

TEST_CASE("Residual<Linear> computes x + Linear(x) and its gradients match finite differences (double)") {
  generator rng(1);
  Residual<Linear<double>> layer(Linear<double>(5, 5));
  parameter_store<double> store;
  store.attach(layer, rng);
  auto x = test::random_tensor<double>({3, 5}, rng);
  const tensor<double> y = layer.forward(x);
  const auto& f = layer.inner().forward(x);
  for (std::int64_t i = 0; i < x.numel(); ++i) CHECK(y[i] == x[i] + f[i]);  // one addition: exact
  const auto report = testing::check_layer_gradients(layer, store, x);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == 15 + 25 + 5);
}

TEST_CASE("Residual around a Sequential block, inside a Sequential: names pass through, gradients check") {
  generator rng(2);
  using Block = Sequential<Linear<double>, SiLU<double>, Linear<double>>;
  Sequential<Linear<double>, Residual<Block>, Tanh<double>> net(
      Linear<double>(3, 4), Residual<Block>(Block(Linear<double>(4, 6), SiLU<double>(), Linear<double>(6, 4))),
      Tanh<double>());
  parameter_store<double> store;
  store.attach(net, rng);
  REQUIRE(store.entries().size() == 6);
  CHECK(store.entries()[2].name == "1.0.weight");
  CHECK(store.entries()[5].name == "1.2.bias");
  auto x = test::random_tensor<double>({2, 3}, rng);
  const auto report = testing::check_layer_gradients(net, store, x);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == test::layer_checks(x, store));
}

TEST_CASE("Residual backward accumulates into the inner parameter gradients and writes dx") {
  generator rng(3);
  Residual<Linear<double>> layer(Linear<double>(4, 4));
  parameter_store<double> store;
  store.attach(layer, rng);
  auto x = test::random_tensor<double>({2, 4}, rng);
  auto dy = test::random_tensor<double>({2, 4}, rng);
  store.zero_grad();
  layer.forward(x);
  const tensor<double> dx1 = layer.backward(dy);
  const std::vector<double> once(store.grads(), store.grads() + store.size());
  const tensor<double> dx2 = layer.backward(dy);
  for (std::int64_t i = 0; i < store.size(); ++i) CHECK(store.grads()[i] == doctest::Approx(2 * once[i]));
  for (std::int64_t i = 0; i < dx1.numel(); ++i) CHECK(dx2[i] == dx1[i]);  // dx is written, not accumulated
}

TEST_CASE("Residual forwards set_training to the inner layer") {
  Residual<Dropout<float>> layer(Dropout<float>(0.5, 1));
  tensor<float> x({64}, 1.f);
  layer.set_training(false);
  const auto& y = layer.forward(x);
  for (std::int64_t i = 0; i < x.numel(); ++i) CHECK(y[i] == 2.f);
  CHECK_FALSE(layer.inner().training());
}

TEST_CASE("Residual rejects an inner layer that changes the shape, and a wrong dy") {
  generator rng(4);
  Residual<Linear<float>> layer(Linear<float>(4, 3));
  parameter_store<float> store;
  store.attach(layer, rng);
  tensor<float> x({2, 4}, 1.f);
  CHECK_THROWS_WITH_AS(layer.forward(x), doctest::Contains("must keep the shape of its input, got [2, 4] → [2, 3]"),
                       vae::error);
  Residual<Linear<float>> same(Linear<float>(4, 4));
  parameter_store<float> store2;
  store2.attach(same, rng);
  same.forward(x);
  tensor<float> dy({2, 3}, 1.f);
  CHECK_THROWS_WITH_AS(same.backward(dy), doctest::Contains("Residual::backward: dy: expected shape [2, 4], got [2, 3]"),
                       vae::error);
  same.inner().set_input_gradient(false);
  tensor<float> dy_ok({2, 4}, 1.f);
  CHECK_THROWS_WITH_AS(same.backward(dy_ok), doctest::Contains("input gradient turned off"), vae::error);
}
