// PatchDiscriminator: taming-transformers' NLayerDiscriminator (pix2pix's PatchGAN): 4×4 convolutions with
// LeakyReLU(0.2) and a normalisation, one logit per overlapping input patch.
#pragma once
#include <algorithm>
#include <concepts>
#include <cstdint>
#include <string>
#include <vector>

#include "vae/core/concepts.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/layers/act_norm.hpp"
#include "vae/layers/activations.hpp"
#include "vae/layers/batch_norm2d.hpp"
#include "vae/layers/conv2d.hpp"

namespace vae {

struct patch_discriminator_options {
  std::int64_t in_channels = 3;  // taming's input_nc
  std::int64_t ndf = 64;         // channels of the first convolution
  std::int64_t n_layers = 3;     // stride-2 convolutions: n_layers (the first without a norm) ...
};

// Layers as taming's nn.Sequential "main": conv4×4 s2 p1 (in_channels → ndf) + LeakyReLU(0.2); for n = 1 ..
// n_layers − 1: conv4×4 s2 p1 (ndf·min(2^(n−1), 8) → ndf·min(2^n, 8)) + Norm + LeakyReLU(0.2); conv4×4 s1 p1
// (→ ndf·min(2^n_layers, 8)) + Norm + LeakyReLU(0.2); conv4×4 s1 p1 → 1 channel. The convolutions before a norm have
// no bias with BatchNorm2d and a bias with any other norm (taming's use_bias rule). Names "main.<i>.weight" etc. with
// i the Sequential index (n_layers 2: convs 0, 2, 5, 8; norms 3, 6), under the prefix given to the store.
// Norm is BatchNorm2d (taming's default: batch statistics in training mode) or ActNorm (use_actnorm=True).
// Initialisation is taming's weights_init, drawn from the store's generator: convolution weights N(0, 0.02),
// BatchNorm2d weights N(1, 0.02) and biases 0; convolution biases keep PyTorch's default U(±1/√fan_in); ActNorm
// keeps loc 0, scale 1 until its first training batch.
template <class T = float, class B = cpu, template <class, class> class Norm = BatchNorm2d>
class PatchDiscriminator {
 public:
  using value_type = T;
  using backend = B;
  using norm_type = Norm<T, B>;
  static constexpr bool conv_bias_before_norm = !std::same_as<norm_type, BatchNorm2d<T, B>>;

  explicit PatchDiscriminator(const patch_discriminator_options& o = {}) : opt_(checked(o)) {
    std::int64_t mult = 1;
    convs_.emplace_back(o.in_channels, o.ndf, 4, 2, 1);
    for (std::int64_t n = 1; n <= o.n_layers; ++n) {
      const std::int64_t prev = mult;
      mult = std::min<std::int64_t>(std::int64_t{1} << n, 8);
      convs_.emplace_back(o.ndf * prev, o.ndf * mult, 4, n < o.n_layers ? 2 : 1, 1, 1, 1, conv_bias_before_norm);
      norms_.emplace_back(o.ndf * mult);
    }
    convs_.emplace_back(o.ndf * mult, 1, 4, 1, 1);
    for (std::size_t i = 0; i < convs_.size(); ++i) acts_.emplace_back(0.2);
    acts_.pop_back();  // none after the last convolution
    for (auto& c : convs_) c.weight().init = parameter_init::normal(0.0, 0.02);
    if constexpr (std::same_as<norm_type, BatchNorm2d<T, B>>) {
      for (auto& nm : norms_) {
        nm.weight().init = parameter_init::normal(1.0, 0.02);
        nm.bias().init = parameter_init::constant(0.0);
      }
    }
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    convs_[0].visit_parameters(prefix + "main.0.", visit);
    for (std::size_t b = 0; b < norms_.size(); ++b) {
      const std::size_t i = 2 + 3 * b;
      convs_[b + 1].visit_parameters(prefix + "main." + std::to_string(i) + ".", visit);
      norms_[b].visit_parameters(prefix + "main." + std::to_string(i + 1) + ".", visit);
    }
    convs_.back().visit_parameters(prefix + "main." + std::to_string(2 + 3 * norms_.size()) + ".", visit);
  }

  // Training mode (the default): BatchNorm2d uses batch statistics and updates its running ones; ActNorm initialises
  // on its first batch. Eval: running statistics / no initialisation.
  void set_training(bool training) {
    for (auto& nm : norms_) nm.set_training(training);
  }
  // Data-parallel training: every BatchNorm2d normalises by the statistics of the whole batch across ranks
  // (SyncBatchNorm; see BatchNorm2d::set_communicator). ActNorm has no hook: it is left as it is.
  void set_communicator(dist::collective* comm) {
    for (auto& nm : norms_) vae::set_communicator(nm, comm);
  }
  // The input gradient (on by default: the generator's loss needs it; a step on real images alone does not).
  void set_input_gradient(bool enabled) { convs_.front().set_input_gradient(enabled); }

  // x: [N, in_channels, H, W] → logits [N, 1, h, w] (32×32 with n_layers 2: 6×6; 256×256 with n_layers 3: 30×30).
  const tensor<T, B>& forward(const tensor<T, B>& x) {
    check(x.rank() == 4 && x.dim(1) == opt_.in_channels,
          [&] { return cat("PatchDiscriminator: expected input [N, ", opt_.in_channels, ", H, W], got ", x.shape()); });
    const tensor<T, B>* h = &acts_[0].forward(convs_[0].forward(x));
    for (std::size_t b = 0; b < norms_.size(); ++b)
      h = &acts_[b + 1].forward(norms_[b].forward(convs_[b + 1].forward(*h)));
    return convs_.back().forward(*h);
  }

  // Returns dx, or an empty tensor while the input gradient is off.
  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    const tensor<T, B>* g = &convs_.back().backward(dy);
    for (std::size_t b = norms_.size(); b-- > 0;)
      g = &convs_[b + 1].backward(norms_[b].backward(acts_[b + 1].backward(*g)));
    return convs_[0].backward(acts_[0].backward(*g));
  }

  const patch_discriminator_options& options() const { return opt_; }

 private:
  static const patch_discriminator_options& checked(const patch_discriminator_options& o) {
    check(o.in_channels > 0 && o.ndf > 0 && o.n_layers >= 1, [&] {
      return cat("PatchDiscriminator: expected in_channels > 0, ndf > 0 and n_layers ≥ 1, got in_channels=",
                 o.in_channels, " ndf=", o.ndf, " n_layers=", o.n_layers);
    });
    return o;
  }

  patch_discriminator_options opt_;
  std::vector<Conv2d<T, B>> convs_;  // n_layers + 2
  std::vector<norm_type> norms_;     // n_layers
  std::vector<LeakyReLU<T, B>> acts_;  // n_layers + 1
};

}  // namespace vae
