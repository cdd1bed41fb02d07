// FeaturePerceptualLoss<Net>: the perceptual policy of VQGAN over any frozen FeatureNet (LPIPS, the library's own
// classifier): LPIPS's distance between channel-normalised feature maps, with its gradient in the reconstruction.
#pragma once
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "vae/adversarial/feature_net.hpp"
#include "vae/adversarial/perceptual.hpp"
#include "vae/core/error.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"
#include "vae/ops/axpy.hpp"
#include "vae/ops/feature_distance.hpp"

namespace vae {

// loss(x, x̂) = (1/N) Σ_b Σ_taps (1/(H_t W_t)) Σ_positions Σ_c w_c (u(x)_c − u(x̂)_c)²,  u = f / (‖f‖_channels + 1e-10),
// f the net's tap activations, w its lin weights (WeightedFeatureNet) or 1/C (the channel mean) — lpips.LPIPS's
// forward (spatial_average, sum over layers) then taming's mean over the batch. The net is held frozen: its store is
// attached through frozen_parameters, so backward accumulates no parameter gradient and nothing optimises it; the
// gradient reaches x̂ alone (x is the data). Weights: load into weights() (load_lpips_weights, load_classifier_features)
// or leave the seeded random initialisation (tests).
template <FeatureNet Net>
class FeaturePerceptualLoss {
 public:
  using value_type = typename Net::value_type;
  using backend = typename Net::backend;
  using T = value_type;
  using B = backend;
  static constexpr bool enabled = true;

  explicit FeaturePerceptualLoss(Net net, std::uint64_t init_seed = 0) : net_(std::move(net)) {
    generator rng(init_seed);
    attach_frozen(store_, net_, rng);
  }
  // The store points into net_: moving the pair keeps the bindings (the buffers move, the layers' pointers stay
  // valid); copying would not.
  FeaturePerceptualLoss(FeaturePerceptualLoss&& o)
      : net_(std::move(o.net_)), store_(std::move(o.store_)) {}
  FeaturePerceptualLoss& operator=(FeaturePerceptualLoss&&) = delete;
  FeaturePerceptualLoss(const FeaturePerceptualLoss&) = delete;

  Net& net() { return net_; }
  // The frozen weights (every entry a buffer: trainable_size() == 0).
  parameter_store<T, B>& weights() { return store_; }

  // The loss averaged over the batch; with grad, its gradient in xrec WRITTEN there (resized to xrec's shape).
  double loss(const tensor<T, B>& x, const tensor<T, B>& xrec, tensor<T, B>* grad) {
    check(x.shape() == xrec.shape() && x.rank() == 4, [&] {
      return cat("FeaturePerceptualLoss: expected images and reconstructions of one shape [N, C, H, W], got ",
                 x.shape(), " and ", xrec.shape());
    });
    return compute(x, xrec, grad);
  }

 private:
  double compute(const tensor<T, B>& x, const tensor<T, B>& xrec, tensor<T, B>* grad) {
    const std::size_t taps = net_.tap_count();
    const double n = static_cast<double>(x.dim(0));
    real_.resize(taps);
    dtaps_.resize(taps);
    dist_.resize(taps);
    net_.forward(x);
    for (std::size_t i = 0; i < taps; ++i) real_[i] = net_.tap(i);  // the next forward overwrites the net's buffers
    net_.forward(xrec);
    double total = 0;
    std::vector<const tensor<T, B>*> dptr(taps, nullptr);
    for (std::size_t i = 0; i < taps; ++i) {
      const auto& f = net_.tap(i);
      check(f.rank() == 4, [&] { return cat("FeaturePerceptualLoss: tap ", i, " is ", f.shape(), ", not [N, C, H, W]"); });
      const feature_distance_dims d{f.dim(0), f.dim(1), f.dim(2) * f.dim(3)};
      const double scale = 1.0 / (n * static_cast<double>(d.hw));
      dist_[i].resize({d.n * d.hw});
      if (grad) dtaps_[i].resize(f.shape());
      ops::feature_distance<B>(d, real_[i].data(), f.data(), weights_of(i), dist_[i].data(),
                               grad ? dtaps_[i].data() : static_cast<T*>(nullptr), scale);
      ones_.resize({d.n * d.hw});
      ones_.fill(T(1));
      total += scale * ops::dot<B>(d.n * d.hw, dist_[i].data(), ones_.data());
      dptr[i] = &dtaps_[i];
    }
    if (grad) *grad = net_.backward_taps(std::span<const tensor<T, B>* const>(dptr.data(), dptr.size()));
    return total;
  }
  const T* weights_of(std::size_t i) {
    if constexpr (WeightedFeatureNet<Net>) return net_.tap_weights(i);
    else return nullptr;
  }

  Net net_;
  parameter_store<T, B> store_;
  std::vector<tensor<T, B>> real_, dtaps_, dist_;
  tensor<T, B> ones_;
};

}  // namespace vae
