// ClassifierFeatures: the convolutions of the library's own image classifier (models/classifier.hpp, the
// `classifier` preset) as a FeatureNet for the perceptual loss, loaded from a trained classifier run; works offline.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "vae/adversarial/feature_net.hpp"
#include "vae/core/error.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/io/safetensors.hpp"
#include "vae/layers/activations.hpp"
#include "vae/layers/conv2d.hpp"
#include "vae/ops/axpy.hpp"

namespace vae {

struct classifier_features_options {
  std::int64_t channels = 1;    // the classifier's image channels
  std::int64_t base_width = 32;  // w: its first convolution's channels (then 2w, 4w)
  // Images come in [−1, 1] (VQGAN's range) and the classifier was trained on intensities in [0, 1]: x ↦ (x + 1)/2
  // first. False: the images are given in the classifier's own range.
  bool signed_input = true;
};

// ConvClassifierFeatures' three convolutions and their ReLUs — features.0 (3×3, c → w), features.2 (4×4 stride 2,
// w → 2w), features.4 (4×4 stride 2, 2w → 4w) — with the three ReLU outputs as taps (no lin weights: the loss averages
// over channels). Its names are the classifier run's, so load_classifier_features reads them out of its
// model.safetensors (the linear layers after them are not used). Inputs [N, channels, H, W], H and W divisible by 4.
template <class T = float, class B = cpu>
class ClassifierFeatures {
 public:
  using value_type = T;
  using backend = B;
  static constexpr std::size_t taps = 3;

  explicit ClassifierFeatures(classifier_features_options o = {})
      : o_(o),
        convs_{Conv2d<T, B>(o.channels, o.base_width, 3, 1, 1), Conv2d<T, B>(o.base_width, 2 * o.base_width, 4, 2, 1),
               Conv2d<T, B>(2 * o.base_width, 4 * o.base_width, 4, 2, 1)} {
    check(o.channels > 0 && o.base_width > 0, [&] {
      return cat("ClassifierFeatures: channels and base_width must be positive, got ", o.channels, " and ",
                 o.base_width);
    });
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    for (std::size_t i = 0; i < taps; ++i) convs_[i].visit_parameters(cat(prefix, "features.", 2 * i, "."), visit);
  }
  std::size_t tap_count() const { return taps; }
  const tensor<T, B>& tap(std::size_t i) const {
    check(i < taps && taps_[i] != nullptr, [&] { return cat("ClassifierFeatures::tap(", i, "): no such tap, or no forward yet"); });
    return *taps_[i];
  }
  const classifier_features_options& options() const { return o_; }

  const tensor<T, B>& forward(const tensor<T, B>& x) {
    check(x.rank() == 4 && x.dim(1) == o_.channels && x.dim(2) % 4 == 0 && x.dim(3) % 4 == 0 && x.dim(2) > 0 &&
              x.dim(3) > 0,
          [&] {
            return cat("ClassifierFeatures::forward: expected images [N, ", o_.channels,
                       ", H, W] with H and W divisible by 4 (the classifier's), got ", x.shape());
          });
    const tensor<T, B>* h = &x;
    if (o_.signed_input) {
      half_.resize(x.shape());
      half_.fill(T(0.5));
      in_.resize(x.shape());
      ops::axpy<B>(x.numel(), 0.5, x.data(), half_.data(), in_.data());
      h = &in_;
    }
    for (std::size_t i = 0; i < taps; ++i) taps_[i] = h = &relus_[i].forward(convs_[i].forward(*h));
    x_shape_ = x.shape();
    forwarded_ = true;
    return *h;
  }

  const tensor<T, B>& backward_taps(std::span<const tensor<T, B>* const> dtaps) {
    check(forwarded_, "ClassifierFeatures::backward_taps called before forward");
    check(dtaps.size() == taps, [&] {
      return cat("ClassifierFeatures::backward_taps: expected ", taps, " tap gradients, got ", dtaps.size());
    });
    const tensor<T, B>* g = nullptr;
    for (std::size_t i = taps; i-- > 0;) {
      if (dtaps[i] != nullptr) {
        check_shape(dtaps[i]->shape(), taps_[i]->shape(), "ClassifierFeatures::backward_taps: a tap gradient");
        if (g == nullptr) {
          g = dtaps[i];
        } else {
          sum_.resize(g->shape());
          ops::axpy<B>(sum_.numel(), 1.0, dtaps[i]->data(), g->data(), sum_.data());
          g = &sum_;
        }
      }
      if (g != nullptr) g = &convs_[i].backward(relus_[i].backward(*g));
    }
    const vae::shape s = x_shape_;
    dx_.resize(s);
    if (g == nullptr) {
      dx_.zero();
    } else if (o_.signed_input) {
      zero_.resize(s);
      zero_.zero();
      ops::axpy<B>(dx_.numel(), 0.5, g->data(), zero_.data(), dx_.data());  // d(x/2 + 1/2)/dx = 1/2
    } else {
      dx_ = *g;
    }
    return dx_;
  }
  // Layer's backward: the gradient at the last tap alone.
  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    std::array<const tensor<T, B>*, taps> d{};
    d[taps - 1] = &dy;
    return backward_taps(d);
  }

 private:
  classifier_features_options o_;
  std::array<Conv2d<T, B>, taps> convs_;
  std::array<ReLU<T, B>, taps> relus_;
  std::array<const tensor<T, B>*, taps> taps_{};
  bool forwarded_ = false;
  vae::shape x_shape_;
  tensor<T, B> half_, in_, sum_, zero_, dx_;
};

// The classifier weights file of a run: DIR/model.safetensors for a run folder, the path itself for a file.
inline std::filesystem::path classifier_weights_file(const std::filesystem::path& run) {
  return std::filesystem::is_directory(run) ? run / "model.safetensors" : run;
}

// ClassifierFeatures' sizes read from a classifier run (its features.0.weight is [w, channels, 3, 3]).
inline classifier_features_options classifier_features_options_of(const std::filesystem::path& run) {
  const auto path = classifier_weights_file(run);
  check(std::filesystem::exists(path), [&] {
    return cat("'", run.string(), "' is not a classifier run: no ", path.string(),
               " (train one with vae train --model classifier --out DIR)");
  });
  const auto file = io::safetensors_file::load(path);
  const auto* w = file.find("features.0.weight");
  check(w != nullptr && w->dims.rank() == 4 && w->dims[2] == 3 && w->dims[3] == 3, [&] {
    return cat("'", path.string(), "' has no tensor 'features.0.weight' of shape [w, channels, 3, 3]: ",
               "not a classifier run's weights (vae train --model classifier)");
  });
  classifier_features_options o;
  o.base_width = w->dims[0];
  o.channels = w->dims[1];
  return o;
}

// Reads the classifier's convolutions (features.0/2/4 weight and bias) from a run folder or its model.safetensors
// into `store` (attached to a ClassifierFeatures); the rest of the file (the linear layers, the head) is ignored. A
// missing or misshapen tensor is refused with its name.
template <class T, class B>
void load_classifier_features(const std::filesystem::path& run, parameter_store<T, B>& store) {
  const auto path = classifier_weights_file(run);
  const auto file = io::safetensors_file::load(path);
  std::vector<T> values(static_cast<std::size_t>(store.size()), T(0));
  for (const auto& e : store.entries()) {
    const auto* st = file.find(e.name);
    check(st != nullptr, [&] {
      return cat("'", path.string(), "' has no tensor '", e.name, "': not a classifier run's weights");
    });
    check(st->dims == e.shape, [&] {
      return cat("'", path.string(), "': tensor '", e.name, "' has shape ", st->dims, ", the feature net expects ",
                 e.shape);
    });
    const auto v = st->template values<T>();
    std::copy(v.begin(), v.end(), values.begin() + e.offset);
  }
  B::copy_from_host(store.values(), values.data(), values.size());
}

}  // namespace vae
