// Tests for models/classifier.hpp: gradients against finite differences (double), PyTorch parity, learning, errors.
#include "vae/models/classifier.hpp"

#include <vector>

#include "../test_support.hpp"
#include "vae/core/parameters.hpp"
#include "vae/testing/gradcheck.hpp"
#include "vae/train/adam.hpp"

using namespace vae;

namespace classifier_test {
template <class T>
Classifier<ConvClassifierFeatures<T>> tiny(std::int64_t classes = 3) {
  conv_classifier_options o;
  o.channels = 1;
  o.height = o.width = 8;
  o.base_width = 2;
  o.features = 5;
  return Classifier<ConvClassifierFeatures<T>>(make_conv_classifier_features<T>(o), o.features, classes);
}
}  // namespace classifier_test
using namespace classifier_test;

TEST_CASE("Classifier: parameter gradients of the mean cross-entropy match finite differences (double)") {
  auto m = tiny<double>();
  generator rng(3);
  parameter_store<double> store;
  store.attach(m, rng);
  tensor<double> x = test::random_tensor<double>({4, 1, 8, 8}, rng);
  const std::vector<std::int32_t> labels{0, 2, 1, 2};
  store.zero_grad();
  const double loss = m.train_step_loss(x, labels);
  CHECK(std::isfinite(loss));
  const std::vector<double> g(store.grads(), store.grads() + store.trainable_size());
  testing::gradcheck_report report;
  for (const auto& e : store.entries())
    testing::check_gradient([&] {
      std::int64_t unused = 0;
      return m.evaluate(x, labels, unused);
    }, store.values() + e.offset, g.data() + e.offset, e.shape.numel(), e.name, {}, report);
  INFO(report.summary());
  MESSAGE("classifier gradcheck: " << report.summary());
  CHECK(report.ok);
  CHECK(report.checked == test::layer_checks(tensor<double>(), store));  // every parameter tensor, no input
  CHECK(store.entries().size() == 10);
}

TEST_CASE("Classifier matches PyTorch: names, logits, loss and parameter gradients (float32)") {
  const auto f = test::golden("classifier");
  auto m = tiny<float>();
  generator rng(0);
  parameter_store<float> store;
  store.attach(m, rng);
  for (auto& e : store.entries()) {
    const auto& t = f.at(e.name);  // throws when a PyTorch name is missing
    const auto v = t.values<float>();
    REQUIRE(static_cast<std::int64_t>(v.size()) == e.shape.numel());
    std::copy(v.begin(), v.end(), store.values() + e.offset);
  }
  const auto xs = f.at("x").values<float>();
  tensor<float> x({4, 1, 8, 8});
  std::copy(xs.begin(), xs.end(), x.data());
  const auto ls = f.at("labels").values<std::int32_t>();
  const std::vector<std::int32_t> labels(ls.begin(), ls.end());
  store.zero_grad();
  const double loss = m.train_step_loss(x, labels);
  CHECK(loss == doctest::Approx(f.at("loss").values<float>()[0]).epsilon(1e-5));
  test::require_parity(tensor<float>(m.forward(x)), f, "logits", "classifier logits");
  for (const auto& e : store.entries()) {
    tensor<float> grad(e.shape);
    std::copy(store.grads() + e.offset, store.grads() + e.offset + e.shape.numel(), grad.data());
    test::require_parity(grad, f, e.name + ".grad", "d loss / d " + e.name);
  }
}

TEST_CASE("Classifier learns a separable toy problem, and refuses bad labels and sizes") {
  auto m = tiny<float>(2);
  generator rng(5);
  parameter_store<float> store;
  store.attach(m, rng);
  Adam<float> opt({.lr = 1e-2});
  // class 1: a bright top half, class 0: a bright bottom half
  tensor<float> x({16, 1, 8, 8});
  std::vector<std::int32_t> labels(16);
  for (std::int64_t i = 0; i < 16; ++i) {
    labels[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i % 2);
    for (std::int64_t p = 0; p < 64; ++p)
      x[i * 64 + p] = static_cast<float>(((p < 32) == (i % 2 == 1) ? 0.8 : 0.1) + 0.1 * rng.uniform());
  }
  std::int64_t correct = 0;
  const double before = m.evaluate(x, labels, correct);
  for (int step = 0; step < 60; ++step) {
    m.train_step_loss(x, labels);
    opt.step_and_zero_grad(store);
  }
  const double after = m.evaluate(x, labels, correct);
  MESSAGE("toy problem: loss " << before << " -> " << after << ", " << correct << "/16 right");
  CHECK(after < 0.1 * before);
  CHECK(correct == 16);
  tensor<float> features;
  features = m.features(x);
  CHECK(features.shape() == shape{16, 5});

  CHECK_THROWS_WITH_AS(m.train_step_loss(x, std::vector<std::int32_t>(3, 0)), doctest::Contains("3 labels for a batch"),
                       vae::error);
  conv_classifier_options odd;
  odd.height = 30;
  CHECK_THROWS_WITH_AS(make_conv_classifier_features<float>(odd), doctest::Contains("divisible by 4"), vae::error);
  CHECK_THROWS_WITH_AS(tiny<float>(1), doctest::Contains("at least 2 classes"), vae::error);
}
