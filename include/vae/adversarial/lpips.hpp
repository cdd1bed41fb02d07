// LPIPS feature net: torchvision's VGG16 `features` trunk read at relu1_2 … relu5_3, the lpips package's input
// scaling and its five learned non-negative "lin" channel weights, with PyTorch-compatible names.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "vae/adversarial/feature_net.hpp"
#include "vae/core/error.hpp"
#include "vae/core/op_scratch.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/io/safetensors.hpp"
#include "vae/layers/activations.hpp"
#include "vae/layers/conv2d.hpp"
#include "vae/layers/max_pool2d.hpp"
#include "vae/ops/axpy.hpp"
#include "vae/ops/conv2d.hpp"
#include "vae/train/checkpoint.hpp"

namespace vae {

// One 3×3 convolution (padding 1, then ReLU) of torchvision's vgg16().features: its index there (the name
// "features.<index>.weight"), its channels at full width, whether a 2×2 max-pool precedes it and whether its ReLU is
// one of LPIPS's taps. This table is the architecture and the one name mapping: tools/convert_lpips.py writes these
// names (and "lin<k>.model.1.weight", the lpips package's own) from the two PyTorch checkpoints.
struct vgg16_conv {
  int index;
  std::int64_t in, out;
  bool pool_before, tap_after;
};
inline constexpr std::array<vgg16_conv, 13> vgg16_features = {{
    {0, 3, 64, false, false},     {2, 64, 64, false, true},     // relu1_2 (features.3)
    {5, 64, 128, true, false},    {7, 128, 128, false, true},   // relu2_2 (features.8)
    {10, 128, 256, true, false},  {12, 256, 256, false, false}, {14, 256, 256, false, true},  // relu3_3 (15)
    {17, 256, 512, true, false},  {19, 512, 512, false, false}, {21, 512, 512, false, true},  // relu4_3 (22)
    {24, 512, 512, true, false},  {26, 512, 512, false, false}, {28, 512, 512, false, true},  // relu5_3 (29)
}};

// lpips.pretrained_networks ScalingLayer: x ↦ (x − shift) / scale per RGB channel, for images in [−1, 1].
inline constexpr std::array<double, 3> lpips_shift = {-0.030, -0.088, -0.188};
inline constexpr std::array<double, 3> lpips_scale = {0.458, 0.448, 0.450};

struct lpips_options {
  // Every VGG width divided by this (1: the real VGG16 the converted weights need; tests use 16 to keep fixtures
  // and finite differences small). Widths must stay whole numbers.
  std::int64_t width_divisor = 1;
};

// The LPIPS "vgg" network (lpips.LPIPS(net='vgg', lpips=True), dropout off as at evaluation) as a WeightedFeatureNet.
// Inputs [N, 3, H, W] (or [N, 1, H, W]: grey images, given to all three colour channels) in [−1, 1], H and W ≥ 16 so
// relu5_3 has a position. Parameters: "features.<i>.weight/bias" ([out, in, 3, 3], [out]) and
// "lin<k>.model.1.weight" ([1, C_k, 1, 1]); load_lpips_weights reads a file of exactly these.
template <class T = float, class B = cpu>
class LPIPS {
 public:
  using value_type = T;
  using backend = B;
  static constexpr std::size_t taps = 5;

  explicit LPIPS(lpips_options o = {}) : o_(o) {
    const std::int64_t div = o.width_divisor;
    check(div >= 1 && 64 % div == 0, [&] {
      return cat("LPIPS: width_divisor must divide 64 (VGG16's narrowest layer), got ", div);
    });
    for (const auto& c : vgg16_features) {
      convs_.emplace_back(c.index == 0 ? 3 : c.in / div, c.out / div, 3, 1, 1);
      relus_.emplace_back();
      if (c.pool_before) pools_.emplace_back(2, 2);
      if (c.tap_after) {
        parameter<T> lin;
        lin.shape = {1, c.out / div, 1, 1};
        // Random stand-ins until weights are loaded: non-negative, as LPIPS's trained (clamped) weights.
        lin.init = parameter_init::uniform(0.0, 2.0 / static_cast<double>(c.out / div));
        lins_.push_back(lin);
      }
    }
    // The scaling as a fixed 1×1 convolution (3 → 3, or 1 → 3 for grey images): w = 1/scale, bias = −shift/scale.
    std::vector<T> w3(9, T(0)), w1(3), bias(3);
    for (int c = 0; c < 3; ++c) {
      w3[static_cast<std::size_t>(c * 4)] = static_cast<T>(1.0 / lpips_scale[c]);
      w1[static_cast<std::size_t>(c)] = static_cast<T>(1.0 / lpips_scale[c]);
      bias[static_cast<std::size_t>(c)] = static_cast<T>(-lpips_shift[c] / lpips_scale[c]);
    }
    scale_w3_.resize({3, 3, 1, 1});
    scale_w1_.resize({3, 1, 1, 1});
    scale_b_.resize({3});
    B::copy_from_host(scale_w3_.data(), w3.data(), w3.size());
    B::copy_from_host(scale_w1_.data(), w1.data(), w1.size());
    B::copy_from_host(scale_b_.data(), bias.data(), bias.size());
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    for (std::size_t i = 0; i < convs_.size(); ++i)
      convs_[i].visit_parameters(cat(prefix, "features.", vgg16_features[i].index, "."), visit);
    for (std::size_t k = 0; k < lins_.size(); ++k) visit(cat(prefix, "lin", k, ".model.1.weight"), lins_[k]);
  }

  std::size_t tap_count() const { return taps; }
  const tensor<T, B>& tap(std::size_t i) const {
    check(i < taps && taps_[i] != nullptr, [&] { return cat("LPIPS::tap(", i, "): no such tap, or no forward yet"); });
    return *taps_[i];
  }
  const T* tap_weights(std::size_t i) const {
    check(i < taps && lins_[i].bound(), [&] { return cat("LPIPS::tap_weights(", i, "): no such tap or no store"); });
    return lins_[i].value;
  }
  const lpips_options& options() const { return o_; }

  const tensor<T, B>& forward(const tensor<T, B>& x) {
    check(x.rank() == 4 && (x.dim(1) == 3 || x.dim(1) == 1) && x.dim(2) >= 16 && x.dim(3) >= 16, [&] {
      return cat("LPIPS::forward: expected images [N, 3 or 1, H ≥ 16, W ≥ 16] in [-1, 1], got ", x.shape());
    });
    sd_ = conv2d_dims{x.dim(0), x.dim(1), x.dim(2), x.dim(3), 3, 1, 1};
    sd_.finish();
    scaled_.resize({x.dim(0), 3, x.dim(2), x.dim(3)});
    ops::conv2d_forward<B>(sd_, x.data(), scaling_weight(), scale_b_.data(), scaled_.data(),
                           op_scratch<T, B>(ops::conv2d_scratch_size<B>(sd_)));
    x_ = &x;
    const tensor<T, B>* h = &scaled_;
    std::size_t pool = 0, tap = 0;
    for (std::size_t i = 0; i < convs_.size(); ++i) {
      if (vgg16_features[i].pool_before) h = &pools_[pool++].forward(*h);
      h = &relus_[i].forward(convs_[i].forward(*h));
      if (vgg16_features[i].tap_after) taps_[tap++] = h;
    }
    return *h;
  }

  // The input gradient of Σ_i ⟨dtaps[i], tap(i)⟩ (null entries: zero); the frozen VGG adds no parameter gradient.
  const tensor<T, B>& backward_taps(std::span<const tensor<T, B>* const> dtaps) {
    check(x_ != nullptr, "LPIPS::backward_taps called before forward");
    check(dtaps.size() == taps, [&] { return cat("LPIPS::backward_taps: expected ", taps, " tap gradients, got ", dtaps.size()); });
    const tensor<T, B>* g = nullptr;  // null: zero so far
    std::size_t pool = pools_.size(), tap = taps;
    for (std::size_t i = convs_.size(); i-- > 0;) {
      if (vgg16_features[i].tap_after) {
        --tap;
        g = add_tap(g, dtaps[tap], *taps_[tap]);
      }
      if (g == nullptr) continue;  // above the deepest tap that has a gradient: nothing flows yet
      g = &convs_[i].backward(relus_[i].backward(*g));
      if (vgg16_features[i].pool_before) g = &pools_[--pool].backward(*g);
    }
    dx_.resize(x_->shape());
    if (g == nullptr) {
      dx_.zero();
      return dx_;
    }
    ops::conv2d_backward<B>(sd_, x_->data(), scaling_weight(), g->data(), dx_.data(), static_cast<T*>(nullptr),
                            static_cast<T*>(nullptr), op_scratch<T, B>(ops::conv2d_scratch_size<B>(sd_)));
    return dx_;
  }
  // Layer's backward: the gradient at the last tap (relu5_3) alone.
  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    std::array<const tensor<T, B>*, taps> d{};
    d[taps - 1] = &dy;
    return backward_taps(d);
  }

 private:
  const T* scaling_weight() const { return sd_.in_c == 3 ? scale_w3_.data() : scale_w1_.data(); }
  // g + dtap at a tap (either may be null, meaning zero).
  const tensor<T, B>* add_tap(const tensor<T, B>* g, const tensor<T, B>* dtap, const tensor<T, B>& at) {
    if (dtap == nullptr) return g;
    check_shape(dtap->shape(), at.shape(), "LPIPS::backward_taps: a tap gradient");
    if (g == nullptr) return dtap;
    sum_.resize(at.shape());
    ops::axpy<B>(sum_.numel(), 1.0, dtap->data(), g->data(), sum_.data());
    return &sum_;
  }

  lpips_options o_;
  std::vector<Conv2d<T, B>> convs_;
  std::vector<ReLU<T, B>> relus_;
  std::vector<MaxPool2d<T, B>> pools_;
  std::vector<parameter<T>> lins_;
  std::array<const tensor<T, B>*, taps> taps_{};
  tensor<T, B> scale_w3_, scale_w1_, scale_b_, scaled_, sum_, dx_;
  conv2d_dims sd_{};
  const tensor<T, B>* x_ = nullptr;
};

// Reads a file written by tools/convert_lpips.py (or any with exactly LPIPS's names and shapes) into `store`, the
// store attached to an LPIPS net (through frozen_parameters or not). A missing, misshapen or extra tensor is refused
// with its name; a negative lin weight too (LPIPS's lin weights are clamped non-negative: such a file is not LPIPS).
template <class T, class B>
void load_lpips_weights(const std::filesystem::path& path, parameter_store<T, B>& store) {
  load_parameters(path, store);
  const auto values = detail::host_copy<T, B>(store.values(), store.size());
  for (const auto& e : store.entries()) {
    if (e.name.find(".model.1.weight") == std::string::npos) continue;
    for (std::int64_t i = 0; i < e.shape.numel(); ++i)
      check(values[static_cast<std::size_t>(e.offset + i)] >= T(0), [&] {
        return cat("'", path.string(), "': tensor '", e.name, "' has a negative weight at ", i,
                   ": LPIPS's lin weights are non-negative (a wrong file, or lin weights from another net?)");
      });
  }
}

}  // namespace vae
