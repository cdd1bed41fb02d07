// Flatten: output shape as nn.Flatten, values unchanged, gradient passes through, errors on bad dims.
#include "vae/layers/flatten.hpp"

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Layer<Flatten<float>>);

TEST_CASE("Flatten merges all but the batch dimension by default") {
  generator rng(1);
  Flatten<float> layer;
  auto x = test::random_tensor<float>({2, 3, 4, 5}, rng);
  const auto& y = layer.forward(x);
  CHECK(y.shape() == shape{2, 60});
  for (std::int64_t i = 0; i < x.numel(); ++i) CHECK(y[i] == x[i]);
  auto dy = test::random_tensor<float>({2, 60}, rng);
  const auto& dx = layer.backward(dy);
  CHECK(dx.shape() == x.shape());
  for (std::int64_t i = 0; i < x.numel(); ++i) CHECK(dx[i] == dy[i]);
}

TEST_CASE("Flatten start_dim/end_dim follow PyTorch") {
  tensor<float> x({2, 3, 4, 5}, 0.f);
  CHECK(Flatten<float>(0).forward(x).shape() == shape{120});
  CHECK(Flatten<float>(1, 2).forward(x).shape() == shape{2, 12, 5});
  CHECK(Flatten<float>(2, -1).forward(x).shape() == shape{2, 3, 20});
  CHECK(Flatten<float>(3).forward(x).shape() == shape{2, 3, 4, 5});
}

TEST_CASE("Flatten gradients match finite differences (double)") {
  generator rng(2);
  Flatten<double> layer;
  parameter_store<double> store;
  store.attach(layer, rng);
  auto x = test::random_tensor<double>({2, 3, 2, 2}, rng);
  const auto report = testing::check_layer_gradients(layer, store, x);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == x.numel());
}

TEST_CASE("Flatten rejects dims outside the input and a wrong dy shape") {
  Flatten<float> layer;
  tensor<float> x1({4}, 0.f);
  CHECK_THROWS_WITH_AS(layer.forward(x1), doctest::Contains("cannot flatten dims 1..-1 of an input of shape [4]"),
                       vae::error);
  tensor<float> x({2, 3, 4}, 0.f), dy({2, 3, 4}, 0.f);
  CHECK_THROWS_WITH_AS(Flatten<float>(2, 1).forward(x), doctest::Contains("cannot flatten dims 2..1"), vae::error);
  CHECK_THROWS_WITH_AS(layer.backward(dy), doctest::Contains("backward called before forward"), vae::error);
  layer.forward(x);
  CHECK_THROWS_WITH_AS(layer.backward(dy), doctest::Contains("dy: expected shape [2, 12], got [2, 3, 4]"), vae::error);
}
