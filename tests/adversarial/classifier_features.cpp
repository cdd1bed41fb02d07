// ClassifierFeatures: sized and loaded from a classifier run (folder or its model.safetensors, the head ignored), its
// taps against a plain forward of the same convolutions, refusals naming the tensor, input errors.
#include "vae/adversarial/classifier_features.hpp"

#include <filesystem>

#include "../test_support.hpp"
#include "vae/models/classifier.hpp"
#include "vae/train/checkpoint.hpp"

using namespace vae;

static_assert(FeatureNet<ClassifierFeatures<float>> && !WeightedFeatureNet<ClassifierFeatures<float>>);

TEST_CASE("ClassifierFeatures loads a classifier run's convolutions and taps the classifier's own ReLU outputs") {
  // A run folder as `vae train --model classifier` leaves it: model.safetensors of a whole Classifier.
  const auto dir = std::filesystem::temp_directory_path() / "vae_classifier_features_run";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(std::string(VAE_GOLDEN_DIR) + "/classifier_run.safetensors", dir / "model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  const auto o = classifier_features_options_of(dir);
  CHECK(o.channels == 1);
  CHECK(o.base_width == 4);
  ClassifierFeatures<float> net(o);
  parameter_store<float> store;
  generator rng(7);
  attach_frozen(store, net, rng);
  load_classifier_features(dir, store);
  CHECK(store.trainable_size() == 0);

  // The same weights in the library's Classifier (the model the run trained), fed (x + 1)/2.
  conv_classifier_options co;
  co.height = co.width = 16;
  co.base_width = 4;
  co.features = 6;
  Classifier<ConvClassifierFeatures<float>> clf(make_conv_classifier_features<float>(co), 6, 3);
  parameter_store<float> cstore;
  cstore.attach(clf, rng);
  load_parameters(dir / "model.safetensors", cstore);
  auto x = test::random_tensor<float>({2, 1, 16, 16}, rng, 0.5);
  tensor<float> x01(x.shape());
  for (std::int64_t i = 0; i < x.numel(); ++i) x01[i] = 0.5f * x[i] + 0.5f;
  net.forward(x);
  clf.features(x01);
  auto& seq = clf.feature_net();
  // Same kernels on the same values: equal bit for bit.
  CHECK(test::max_abs_diff(net.tap(0), seq.get<1>().forward(seq.get<0>().forward(x01))) == 0.0);
  CHECK(test::max_abs_diff(net.tap(1), seq.get<3>().forward(seq.get<2>().forward(net.tap(0)))) == 0.0);
  CHECK(test::max_abs_diff(net.tap(2), seq.get<5>().forward(seq.get<4>().forward(net.tap(1)))) == 0.0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("ClassifierFeatures refuses what is not a classifier run, naming the file or the tensor") {
  const std::string golden = VAE_GOLDEN_DIR;
  CHECK_THROWS_WITH_AS(classifier_features_options_of("/nonexistent/run"), doctest::Contains("is not a classifier run"),
                       vae::error);
  CHECK_THROWS_WITH_AS(classifier_features_options_of(golden + "/max_pool2d.safetensors"),
                       doctest::Contains("no tensor 'features.0.weight'"), vae::error);
  // LPIPS's weights start like a 3-channel classifier of width 4, then differ.
  const auto o = classifier_features_options_of(golden + "/lpips_weights.safetensors");
  ClassifierFeatures<float> net(o);
  parameter_store<float> store;
  generator rng(8);
  attach_frozen(store, net, rng);
  CHECK_THROWS_WITH_AS(load_classifier_features(golden + "/lpips_weights.safetensors", store),
                       doctest::Contains("tensor 'features.2.weight' has shape [4, 4, 3, 3], the feature net expects [8, 4, 4, 4]"),
                       vae::error);
  CHECK_THROWS_WITH_AS(net.forward(tensor<float>({2, 1, 16, 16}, 0.f)), doctest::Contains("expected images [N, 3, H, W]"),
                       vae::error);
  CHECK_THROWS_WITH_AS(net.forward(tensor<float>({2, 3, 10, 16}, 0.f)), doctest::Contains("divisible by 4"), vae::error);
}
