// Classifier: a feature net (any Layer giving [N, F]) and a linear head over classes, trained on cross-entropy; its
// features and class probabilities are what the sample-quality metrics (metrics/) measure generated images with.
#pragma once
#include <cmath>
#include <concepts>
#include <cstdint>
#include <span>
#include <string>

#include "vae/core/concepts.hpp"
#include "vae/core/error.hpp"
#include "vae/core/tensor.hpp"
#include "vae/dist/gradient_sync.hpp"
#include "vae/layers/activations.hpp"
#include "vae/layers/conv2d.hpp"
#include "vae/layers/flatten.hpp"
#include "vae/layers/linear.hpp"
#include "vae/layers/sequential.hpp"
#include "vae/ops/losses.hpp"
#include "vae/ops/softmax.hpp"

namespace vae {

// The library's image classifier's feature net (the `classifier` preset), in PyTorch:
//   features = nn.Sequential(Conv2d(c, w, 3, 1, 1), ReLU(), Conv2d(w, 2w, 4, 2, 1), ReLU(),
//                            Conv2d(2w, 4w, 4, 2, 1), ReLU(), Flatten(), Linear(4w·(h/4)·(w/4), f), ReLU())
// so its penultimate features are the f ReLU outputs (FID's pool features play the same role).
template <class T = float, class B = cpu>
using ConvClassifierFeatures = Sequential<Conv2d<T, B>, ReLU<T, B>, Conv2d<T, B>, ReLU<T, B>, Conv2d<T, B>, ReLU<T, B>,
                                          Flatten<T, B>, Linear<T, B>, ReLU<T, B>>;

struct conv_classifier_options {
  std::int64_t channels = 1, height = 28, width = 28;  // the images it takes
  std::int64_t base_width = 32;                        // w: the first convolution's channels (then 2w, 4w)
  std::int64_t features = 128;                         // f: the penultimate feature dimension
};

template <class T = float, class B = cpu>
ConvClassifierFeatures<T, B> make_conv_classifier_features(const conv_classifier_options& o) {
  check(o.channels > 0 && o.height % 4 == 0 && o.width % 4 == 0 && o.height > 0 && o.width > 0, [&] {
    return cat("ConvClassifierFeatures: images need a height and width divisible by 4, got ", o.channels, "x",
               o.height, "x", o.width);
  });
  check(o.base_width > 0 && o.features > 0, [&] {
    return cat("ConvClassifierFeatures: base_width and features must be positive, got ", o.base_width, " and ",
               o.features);
  });
  const std::int64_t w = o.base_width;
  ConvClassifierFeatures<T, B> net(Conv2d<T, B>(o.channels, w, 3, 1, 1), ReLU<T, B>(), Conv2d<T, B>(w, 2 * w, 4, 2, 1),
                                   ReLU<T, B>(), Conv2d<T, B>(2 * w, 4 * w, 4, 2, 1), ReLU<T, B>(), Flatten<T, B>(),
                                   Linear<T, B>(4 * w * (o.height / 4) * (o.width / 4), o.features), ReLU<T, B>());
  net.template get<0>().set_input_gradient(false);  // images need no gradient while training the classifier
  return net;
}

// logits = head(features(x)); loss = mean cross-entropy against integer labels. Names: "features.*", "head.*".
template <Layer Features, class T = typename Features::value_type, class B = typename Features::backend>
class Classifier {
  static_assert(std::same_as<typename Features::value_type, T> && std::same_as<typename Features::backend, B>,
                "Classifier: the feature net must be a Layer over tensor<T, B>");

 public:
  using value_type = T;
  using backend = B;
  using tensor_type = tensor<T, B>;

  Classifier(Features features, std::int64_t feature_dim, std::int64_t classes)
      : features_(std::move(features)), head_(feature_dim, classes), feature_dim_(feature_dim), classes_(classes) {
    check(classes >= 2, [&] { return cat("Classifier: needs at least 2 classes, got ", classes); });
  }

  std::int64_t classes() const { return classes_; }
  std::int64_t feature_dim() const { return feature_dim_; }

  // Forward + backward of the batch-mean cross-entropy; ADDS the parameter gradients; returns the loss. `correct`
  // (optional) receives how many rows the logits classify right.
  double train_step_loss(const tensor_type& x, std::span<const std::int32_t> labels, std::int64_t* correct = nullptr) {
    check(x.rank() >= 2 && static_cast<std::int64_t>(labels.size()) == x.dim(0), [&] {
      return cat("Classifier::train_step_loss: ", labels.size(), " labels for a batch ", x.shape());
    });
    const auto& logits = forward(x);
    target_.resize({x.dim(0)});
    for (std::int64_t i = 0; i < x.dim(0); ++i) target_[i] = labels[static_cast<std::size_t>(i)];
    const double loss = ops::cross_entropy_loss(logits, target_, &dlogits_);
    if (correct) *correct = count_correct(logits, labels);
    const auto& dfeat = head_.backward(dlogits_);
    dist::mark_gradients_ready(sync_, head_);  // its allreduce runs beside the feature net's backward
    features_.backward(dfeat);
    dist::mark_gradients_ready(sync_, features_);
    return loss;
  }

  // Logits [N, classes] (owned by the head).
  const tensor_type& forward(const tensor_type& x) { return head_.forward(features_.forward(x)); }
  // Penultimate features [N, feature_dim] (owned by the feature net).
  const tensor_type& features(const tensor_type& x) { return features_.forward(x); }
  // Features and class probabilities of x in one forward pass.
  void features_and_probabilities(const tensor_type& x, tensor_type& feats, tensor_type& probs) {
    feats = features_.forward(x);
    ops::softmax(head_.forward(feats), probs);
  }

  // Mean cross-entropy and count of right answers on a batch, without gradients.
  double evaluate(const tensor_type& x, std::span<const std::int32_t> labels, std::int64_t& correct) {
    const auto& logits = forward(x);
    target_.resize({x.dim(0)});
    for (std::int64_t i = 0; i < x.dim(0); ++i) target_[i] = labels[static_cast<std::size_t>(i)];
    correct = count_correct(logits, labels);
    return ops::cross_entropy_loss(logits, target_);
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    features_.visit_parameters(prefix + "features.", visit);
    head_.visit_parameters(prefix + "head.", visit);
  }
  void set_training(bool training) { vae::set_training(features_, training); }
  Features& feature_net() { return features_; }
  // Data-parallel training: the head's, then the feature net's gradients are declared final to `sync` as the
  // backward finishes them. Null (the default): one process.
  void set_gradient_sync(dist::gradient_sync<T>* sync) { sync_ = sync; }

 private:
  dist::gradient_sync<T>* sync_ = nullptr;
  static std::int64_t count_correct(const tensor_type& logits, std::span<const std::int32_t> labels) {
    std::int64_t correct = 0;
    const std::int64_t c = logits.dim(1);
    for (std::int64_t i = 0; i < logits.dim(0); ++i) {
      std::int64_t best = 0;
      for (std::int64_t j = 1; j < c; ++j)
        if (logits[i * c + j] > logits[i * c + best]) best = j;
      correct += best == labels[static_cast<std::size_t>(i)];
    }
    return correct;
  }

  Features features_;
  Linear<T, B> head_;
  std::int64_t feature_dim_, classes_;
  tensor<std::int32_t, B> target_;
  tensor_type dlogits_;
};

}  // namespace vae
