// The FeatureNet concepts and frozen_parameters: which types model them, and a store attached through the frozen
// view holds buffers only (no gradient slot, so backward accumulates nothing).
#include "vae/adversarial/feature_net.hpp"

#include "../test_support.hpp"
#include "vae/adversarial/classifier_features.hpp"
#include "vae/adversarial/lpips.hpp"
#include "vae/layers/conv2d.hpp"

using namespace vae;

static_assert(FeatureNet<LPIPS<float>> && WeightedFeatureNet<LPIPS<float>>);
static_assert(FeatureNet<ClassifierFeatures<double>> && !WeightedFeatureNet<ClassifierFeatures<double>>);
static_assert(Layer<Conv2d<float>> && !FeatureNet<Conv2d<float>>);  // a Layer without taps is not one

TEST_CASE("frozen_parameters: every entry a buffer, backward leaves the values and adds no gradient") {
  classifier_features_options o;
  o.base_width = 2;
  ClassifierFeatures<double> net(o);
  parameter_store<double> store;
  generator rng(4);
  attach_frozen(store, net, rng);
  REQUIRE(store.entries().size() == 6);
  CHECK(store.trainable_size() == 0);
  for (const auto& e : store.entries()) CHECK_FALSE(e.trainable);
  const std::vector<double> before(store.values(), store.values() + store.size());
  const auto x = test::random_tensor<double>({2, 1, 8, 8}, rng);
  const auto& y = net.forward(x);
  const auto dy = test::random_tensor<double>(y.shape(), rng);
  const auto& dx = net.backward(dy);
  CHECK(dx.shape() == x.shape());
  CHECK(std::equal(before.begin(), before.end(), store.values()));
  CHECK(std::all_of(store.grads(), store.grads() + store.size(), [](double g) { return g == 0.0; }));
}
