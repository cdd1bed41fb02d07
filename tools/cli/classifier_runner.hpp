// classifier_runner: the CLI's image classifier (the `classifier` preset) behind the runner interface, and the
// feature_extractor face through which `vae eval --fid` measures other runs' images in its feature space.
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "cli/preset_registry.hpp"
#include "cli/run_config.hpp"
#include "cli/runner.hpp"
#include "vae/metrics/feature_statistics.hpp"
#include "vae/models/classifier.hpp"

namespace vae::cli {

// Features and class probabilities of host images [N, C, H, W], in double, for the sample-quality metrics.
class feature_extractor {
 public:
  virtual ~feature_extractor() = default;
  virtual image_shape input_shape() const = 0;
  virtual std::int64_t feature_dim() const = 0;
  virtual std::int64_t classes() const = 0;
  // features [N, feature_dim] and probabilities [N, classes], computed in batches.
  virtual void extract(const tensor<float>& images, metrics::feature_matrix& features,
                       metrics::feature_matrix& probabilities) = 0;
};

template <class Model>
class classifier_runner final : public runner_on<cpu>, public feature_extractor {
 public:
  classifier_runner(Model model, image_shape s, generator& init) : model_(std::move(model)), shape_(s) {
    store_.attach(model_, init);
  }
  std::string family() const override { return "classifier"; }
  void set_gradient_sync(dist::gradient_sync<float>* sync) override { detail::set_gradient_sync(model_, sync); }
  bool reconstructs() const override { return false; }
  void set_training(bool t) override {
    model_.set_training(t);
    freeze_for_evaluation(t);
  }
  bool needs_labels() const override { return true; }
  void set_labels(std::span<const std::int32_t> labels) override { labels_.assign(labels.begin(), labels.end()); }

  double train_step(tensor<float>& x, generator&, std::int64_t) override {
    detail::shape_images(x, shape_);
    check(static_cast<std::int64_t>(labels_.size()) == x.dim(0), [&] {
      return cat("classifier: ", labels_.size(), " labels were set for a batch of ", x.dim(0), " images");
    });
    check_labels(labels_, "training");
    std::int64_t correct = 0;
    const double loss = model_.train_step_loss(x, labels_, &correct);
    correct_ += correct;
    seen_ += x.dim(0);
    return loss;
  }
  std::string last_loss_parts() const override { return "cross-entropy"; }
  void reset_epoch_stats() override { correct_ = seen_ = 0; }
  nlohmann::json epoch_stats() override {
    if (seen_ == 0) return nlohmann::json::object();
    return {{"train_accuracy", static_cast<double>(correct_) / static_cast<double>(seen_)}};
  }

  nlohmann::json evaluate(const tensor<float>& test, generator&, const eval_request& req) override {
    check(req.labels != nullptr && static_cast<std::int64_t>(req.labels->size()) == test.dim(0), [&] {
      return cat("classifier evaluation needs one label per test image (", test.dim(0), " images, ",
                 req.labels ? req.labels->size() : 0, " labels)");
    });
    const std::int64_t n = req.limit > 0 ? std::min(req.limit, test.dim(0)) : test.dim(0);
    double loss_sum = 0;
    std::int64_t correct_sum = 0;
    for (std::int64_t b = 0; b < n; b += req.batch) {
      const std::int64_t e = std::min(n, b + req.batch);
      detail::slice_rows(test, b, e, x_);
      detail::shape_images(x_, shape_);
      const std::span<const std::int32_t> labels(req.labels->data() + b, static_cast<std::size_t>(e - b));
      check_labels(labels, "test");
      std::int64_t correct = 0;
      loss_sum += model_.evaluate(x_, labels, correct) * static_cast<double>(e - b);
      correct_sum += correct;
    }
    return {{"test_loss", loss_sum / static_cast<double>(n)},
            {"test_accuracy", static_cast<double>(correct_sum) / static_cast<double>(n)},
            {"classes", model_.classes()},
            {"n", n}};
  }
  void eval_batch(tensor<float>& x, generator&) override {
    detail::shape_images(x, shape_);
    model_.forward(x);
  }
  void reconstruct(tensor<float>&, tensor<float>&) override {
    vae::detail::throw_error("a classifier run does not reconstruct images: it labels them (vae eval --run DIR)");
  }

  image_shape input_shape() const override { return shape_; }
  std::int64_t feature_dim() const override { return model_.feature_dim(); }
  std::int64_t classes() const override { return model_.classes(); }
  void extract(const tensor<float>& images, metrics::feature_matrix& features,
               metrics::feature_matrix& probabilities) override {
    const std::int64_t n = images.dim(0);
    features.resize(n, model_.feature_dim());
    probabilities.resize(n, model_.classes());
    constexpr std::int64_t batch = 500;
    for (std::int64_t b = 0; b < n; b += batch) {
      const std::int64_t e = std::min(n, b + batch);
      detail::slice_rows(images, b, e, x_);
      detail::shape_images(x_, shape_);
      model_.features_and_probabilities(x_, feats_, probs_);
      for (std::int64_t i = 0; i < e - b; ++i) {
        for (std::int64_t j = 0; j < feats_.dim(1); ++j) features(b + i, j) = feats_[i * feats_.dim(1) + j];
        for (std::int64_t j = 0; j < probs_.dim(1); ++j) probabilities(b + i, j) = probs_[i * probs_.dim(1) + j];
      }
    }
  }

 private:
  void check_labels(std::span<const std::int32_t> labels, const char* split) const {
    for (std::size_t i = 0; i < labels.size(); ++i)
      check(labels[i] >= 0 && labels[i] < model_.classes(), [&] {
        return cat("classifier: a ", split, " label is ", labels[i], ", outside the run's ", model_.classes(),
                   " classes [0, ", model_.classes() - 1, "]");
      });
  }
  Model model_;
  image_shape shape_;
  std::vector<std::int32_t> labels_;
  std::int64_t correct_ = 0, seen_ = 0;
  tensor<float> x_, feats_, probs_;
};

// The `classifier` preset: ConvClassifierFeatures (w = 32, 128 features) and a head over c.classes classes.
inline std::unique_ptr<runner_on<cpu>> make_classifier_runner(const run_config& c, image_shape s, generator& init) {
  check(c.classes >= 2, [&] {
    return cat("classifier: needs labels of at least 2 classes, got ", c.classes,
               " (fashion-mnist and mnist-idx have labels; npy:IMAGES.npy needs a labels file, folder:DIR sub-folders)");
  });
  conv_classifier_options o;
  o.channels = s.c;
  o.height = s.h;
  o.width = s.w;
  Classifier<ConvClassifierFeatures<float>> m(make_conv_classifier_features<float>(o), o.features, c.classes);
  return std::make_unique<classifier_runner<decltype(m)>>(std::move(m), s, init);
}

}  // namespace vae::cli
