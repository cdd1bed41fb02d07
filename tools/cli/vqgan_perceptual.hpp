// vqgan_perceptual: the CLI's run-time choice of the vqgan perceptual policy (--perceptual none | lpips:FILE |
// classifier:RUN), behind one type so the CLI instantiates each VQGAN once for every perceptual net.
#pragma once
#include <memory>
#include <string>
#include <utility>

#include "cli/runner.hpp"
#include "vae/adversarial/classifier_features.hpp"
#include "vae/adversarial/feature_perceptual_loss.hpp"
#include "vae/adversarial/lpips.hpp"

namespace vae::cli {

// A FeaturePerceptualLoss over LPIPS or ClassifierFeatures (float, cpu), chosen at run time.
class cli_perceptual {
 public:
  static constexpr bool enabled = true;

  template <class P>
  explicit cli_perceptual(P p) : impl_(std::make_unique<holder<P>>(std::move(p))) {}

  double loss(const tensor<float>& x, const tensor<float>& xrec, tensor<float>* grad) {
    return impl_->loss(x, xrec, grad);
  }

 private:
  struct base {
    virtual ~base() = default;
    virtual double loss(const tensor<float>& x, const tensor<float>& xrec, tensor<float>* grad) = 0;
  };
  template <class P>
  struct holder final : base {
    explicit holder(P q) : p(std::move(q)) {}
    double loss(const tensor<float>& x, const tensor<float>& xrec, tensor<float>* grad) override {
      return p.loss(x, xrec, grad);
    }
    P p;
  };
  std::unique_ptr<base> impl_;
};

// Whether --perceptual asks for a perceptual net (anything but "none").
inline bool wants_perceptual(const std::string& spec) { return !spec.empty() && spec != "none"; }

// --perceptual lpips:FILE (tools/convert_lpips.py's output) or classifier:RUN (a `vae train --model classifier` run on
// images of the same channels), for vqgan images of shape `s`. A file that is not what it should be is refused with
// the tensor named (load_lpips_weights, load_classifier_features).
inline cli_perceptual make_cli_perceptual(const std::string& spec, image_shape s) {
  const auto colon = spec.find(':');
  const std::string kind = spec.substr(0, colon), path = colon == std::string::npos ? "" : spec.substr(colon + 1);
  check((kind == "lpips" || kind == "classifier") && !path.empty(), [&] {
    return cat("--perceptual must be none, lpips:FILE (weights converted by tools/convert_lpips.py) or classifier:RUN ",
               "(a classifier run's folder), got '", spec, "'");
  });
  if (kind == "lpips") {
    check(s.c == 1 || s.c == 3, [&] { return cat("--perceptual lpips takes 1- or 3-channel images, the data has ", s.c); });
    FeaturePerceptualLoss<LPIPS<float>> p{LPIPS<float>()};
    load_lpips_weights(path, p.weights());
    return cli_perceptual(std::move(p));
  }
  const auto o = classifier_features_options_of(path);
  check(o.channels == s.c, [&] {
    return cat("--perceptual classifier:", path, " was trained on ", o.channels, "-channel images, the data has ", s.c,
               " (train a classifier on the same data: vae train --model classifier --data ...)");
  });
  FeaturePerceptualLoss<ClassifierFeatures<float>> p{ClassifierFeatures<float>(o)};
  load_classifier_features(path, p.weights());
  return cli_perceptual(std::move(p));
}

}  // namespace vae::cli
