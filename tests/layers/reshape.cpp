// Reshape: per-sample shape with the batch kept, values unchanged, gradient passes through, count errors.
#include "vae/layers/reshape.hpp"

#include "../test_support.hpp"
#include "vae/layers/flatten.hpp"
#include "vae/layers/linear.hpp"
#include "vae/layers/sequential.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Layer<Reshape<float>>);

TEST_CASE("Reshape keeps the batch and views each sample under the given shape") {
  generator rng(1);
  Reshape<float> layer({4, 2, 3});
  auto x = test::random_tensor<float>({5, 24}, rng);
  const auto& y = layer.forward(x);
  CHECK(y.shape() == shape{5, 4, 2, 3});
  for (std::int64_t i = 0; i < x.numel(); ++i) CHECK(y[i] == x[i]);
  auto dy = test::random_tensor<float>({5, 4, 2, 3}, rng);
  const auto& dx = layer.backward(dy);
  CHECK(dx.shape() == shape{5, 24});
  for (std::int64_t i = 0; i < x.numel(); ++i) CHECK(dx[i] == dy[i]);
}

TEST_CASE("Reshape inverts Flatten in a Sequential; gradients match finite differences (double)") {
  generator rng(2);
  Sequential<Flatten<double>, Linear<double>, Reshape<double>> net(Flatten<double>(), Linear<double>(6, 6),
                                                                   Reshape<double>({2, 3}));
  parameter_store<double> store;
  store.attach(net, rng);
  CHECK(store.entries()[0].name == "1.weight");
  auto x = test::random_tensor<double>({3, 3, 2}, rng);
  CHECK(net.forward(x).shape() == shape{3, 2, 3});
  const auto report = testing::check_layer_gradients(net, store, x);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == test::layer_checks(x, store));
}

TEST_CASE("Reshape rejects a per-sample element count mismatch with both shapes in the message") {
  Reshape<float> layer({4, 4});
  tensor<float> x({2, 3, 5}, 0.f);
  CHECK_THROWS_WITH_AS(layer.forward(x),
                       doctest::Contains("cannot reshape input [2, 3, 5] (15 elements per sample) to [N] + [4, 4] "
                                         "(16 elements per sample)"),
                       vae::error);
  tensor<float> dy({2, 16}, 0.f);
  CHECK_THROWS_WITH_AS(layer.backward(dy), doctest::Contains("backward called before forward"), vae::error);
  tensor<float> ok({2, 16}, 0.f);
  layer.forward(ok);
  CHECK_THROWS_WITH_AS(layer.backward(dy), doctest::Contains("dy: expected shape [2, 4, 4], got [2, 16]"), vae::error);
  CHECK_THROWS_AS(Reshape<float>({1, 1, 1, 1, 1, 1}), vae::error);
}
