// Dropout: eval = identity, train-mode mask statistics and scaling, reproducible noise, gradients, errors.
#include "vae/layers/dropout.hpp"

#include <cmath>

#include "../test_support.hpp"
#include "vae/layers/linear.hpp"
#include "vae/layers/sequential.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Layer<Dropout<float>> && HasTrainingMode<Dropout<float>>);

TEST_CASE("Dropout in eval mode is the identity, forward and backward") {
  generator rng(1);
  Dropout<float> layer(0.5, 7);
  layer.set_training(false);
  auto x = test::random_tensor<float>({4, 9}, rng);
  auto dy = test::random_tensor<float>({4, 9}, rng);
  const auto& y = layer.forward(x);
  REQUIRE(y.shape() == x.shape());
  for (std::int64_t i = 0; i < x.numel(); ++i) CHECK(y[i] == x[i]);
  const auto& dx = layer.backward(dy);
  for (std::int64_t i = 0; i < x.numel(); ++i) CHECK(dx[i] == dy[i]);
  CHECK(layer.draw() == 0);  // eval forwards draw no noise
}

TEST_CASE("Dropout train mode: keep rate within a binomial bound, kept values scaled by 1/(1-p)") {
  for (const double p : {0.1, 0.3, 0.5, 0.9}) {
    const std::int64_t n = 200000;
    Dropout<float> layer(p, 42);
    tensor<float> x({n}, 1.5f);
    const auto& y = layer.forward(x);
    const float scaled = 1.5f * static_cast<float>(1.0 / (1.0 - p));
    std::int64_t kept = 0, other = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      if (y[i] == scaled) ++kept;
      else if (y[i] != 0.f) ++other;
    }
    CHECK(other == 0);
    const double rate = static_cast<double>(kept) / n;
    const double sigma = std::sqrt(p * (1 - p) / n);
    INFO("p=" << p << " keep rate " << rate << " expected " << 1 - p << " ± " << 5 * sigma << " (5 sigma)");
    CHECK(std::abs(rate - (1 - p)) < 5 * sigma);
    // The output mean matches the input mean in expectation (inverted dropout).
    double mean = 0;
    for (std::int64_t i = 0; i < n; ++i) mean += y[i];
    mean /= n;
    CHECK(std::abs(mean - 1.5) < 5 * 1.5 * sigma / (1 - p));
  }
}

TEST_CASE("Dropout masks are reproducible from (seed, draw) and change between draws") {
  tensor<float> x({1000}, 1.f);
  Dropout<float> a(0.5, 3), b(0.5, 3), c(0.5, 4);
  const tensor<float> first = a.forward(x);
  CHECK(a.draw() == 1);
  const tensor<float> second = a.forward(x);
  CHECK(a.draw() == 2);
  const tensor<float> same = b.forward(x);
  const tensor<float> other_seed = c.forward(x);
  std::int64_t diff_draw = 0, diff_seed = 0, diff_same = 0;
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    diff_draw += first[i] != second[i];
    diff_seed += first[i] != other_seed[i];
    diff_same += first[i] != same[i];
  }
  CHECK(diff_same == 0);
  CHECK(diff_draw > 300);  // about half of the elements differ between independent masks
  CHECK(diff_seed > 300);
  a.set_draw(0);
  const auto& replay = a.forward(x);
  for (std::int64_t i = 0; i < x.numel(); ++i) CHECK(replay[i] == first[i]);
  // Frozen noise: every forward reuses the current draw.
  a.freeze_noise(true);
  a.set_draw(1);
  a.forward(x);
  a.forward(x);
  CHECK(a.draw() == 1);
  for (std::int64_t i = 0; i < x.numel(); ++i) CHECK(a.forward(x)[i] == second[i]);
}

TEST_CASE("Dropout gradients match finite differences with frozen noise (double)") {
  generator rng(5);
  Dropout<double> layer(0.4, 9);
  layer.freeze_noise(true);
  parameter_store<double> store;
  store.attach(layer, rng);
  auto x = test::random_tensor<double>({5, 8}, rng);
  const auto report = testing::check_layer_gradients(layer, store, x);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == x.numel());
  // backward multiplies by the same mask: with dy = 1, dx is the mask (0 or 1/(1 − p)) and y = x ⊙ dx exactly.
  const auto& y = layer.forward(x);
  tensor<double> dy({5, 8}, 1.0);
  const auto& dx = layer.backward(dy);
  std::int64_t zeros = 0;
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    CHECK((dx[i] == 0.0 || dx[i] == 1.0 / (1.0 - 0.4)));
    CHECK(y[i] == x[i] * dx[i]);
    zeros += dx[i] == 0.0;
  }
  CHECK(zeros > 0);
  CHECK(zeros < x.numel());
}

TEST_CASE("Dropout with p = 0 is the identity and with p = 1 zeroes everything (as PyTorch)") {
  generator rng(6);
  auto x = test::random_tensor<float>({3, 5}, rng);
  Dropout<float> none(0.0), all(1.0);
  const auto& y0 = none.forward(x);
  const auto& y1 = all.forward(x);
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    CHECK(y0[i] == x[i]);
    CHECK(y1[i] == 0.f);
  }
}

TEST_CASE("Dropout follows Sequential::set_training") {
  generator rng(7);
  Sequential<Linear<float>, Dropout<float>> net(Linear<float>(4, 64), Dropout<float>(0.5, 1));
  parameter_store<float> store;
  store.attach(net, rng);
  auto x = test::random_tensor<float>({2, 4}, rng);
  net.set_training(false);
  const tensor<float> eval = net.forward(x);
  const tensor<float> lin = net.get<0>().forward(x);
  for (std::int64_t i = 0; i < eval.numel(); ++i) CHECK(eval[i] == lin[i]);
  net.set_training(true);
  const auto& train = net.forward(x);
  std::int64_t zeros = 0;
  for (std::int64_t i = 0; i < train.numel(); ++i) zeros += train[i] == 0.f;
  CHECK(zeros > 0);
}

TEST_CASE("Dropout rejects a bad probability and a wrong dy shape") {
  CHECK_THROWS_WITH_AS(Dropout<float>(1.5), doctest::Contains("probability must be in [0, 1], got 1.5"), vae::error);
  CHECK_THROWS_WITH_AS(Dropout<float>(-0.1), doctest::Contains("got -0.1"), vae::error);
  Dropout<float> layer(0.5);
  tensor<float> x({2, 3}, 1.f), dy({6}, 1.f);
  CHECK_THROWS_WITH_AS(layer.backward(dy), doctest::Contains("Dropout::backward called before forward"), vae::error);
  layer.forward(x);
  CHECK_THROWS_WITH_AS(layer.backward(dy), doctest::Contains("expected shape [2, 3] (of the last forward), got [6]"),
                       vae::error);
}
