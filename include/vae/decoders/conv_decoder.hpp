// ConvDecoder: Linear-ReLU-reshape-ConvT(4,s2,p1)-ReLU-ConvT(4,s2,p1), the reference vae_conv.py `fc` + `dec`.
#pragma once
#include <cstdint>
#include <string>

#include "vae/layers/activations.hpp"
#include "vae/layers/conv_transpose2d.hpp"
#include "vae/layers/linear.hpp"
#include "vae/layers/reshape.hpp"
#include "vae/layers/sequential.hpp"

namespace vae {

// Parameter names: the decoder spans two attributes of vae_conv.py's model (self.fc and self.dec), so it
// names its parameters RELATIVE TO THE MODEL: visit_parameters(prefix) gives prefix + "fc.weight",
// prefix + "fc.bias", prefix + "dec.0.weight", ..., prefix + "dec.2.bias". A model laid out like vae_conv.py
// passes an empty prefix (the encoder, one attribute, gets "enc.").
template <class T = float, class B = cpu>
class ConvDecoder {
 public:
  using value_type = T;
  using backend = B;
  using conv_stack = Sequential<ConvTranspose2d<T, B>, ReLU<T, B>, ConvTranspose2d<T, B>>;

  // z: [N, latent] → fc → [N, c2·(s/4)²] → ReLU → [N, c2, s/4, s/4] → ConvT → [N, c1, s/2, s/2] → ReLU → ConvT →
  // [N, out_channels, s, s]. vae_conv.py: ConvDecoder(32, 28, 64, 32, 1).
  ConvDecoder(std::int64_t latent, std::int64_t image_size, std::int64_t c2, std::int64_t c1,
              std::int64_t out_channels)
      : fc_(latent, c2 * grid(image_size) * grid(image_size)),
        reshape_(shape{c2, grid(image_size), grid(image_size)}),
        dec_(ConvTranspose2d<T, B>(c2, c1, 4, 2, 1), ReLU<T, B>(), ConvTranspose2d<T, B>(c1, out_channels, 4, 2, 1)),
        latent_(latent) {}

  const tensor<T, B>& forward(const tensor<T, B>& z) {
    check(z.rank() == 2 && z.dim(1) == latent_,
          [&] { return cat("ConvDecoder: expected input [N, ", latent_, "], got ", z.shape()); });
    return dec_.forward(reshape_.forward(relu_.forward(fc_.forward(z))));
  }
  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    return fc_.backward(relu_.backward(reshape_.backward(dec_.backward(dy))));
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    fc_.visit_parameters(prefix + "fc.", visit);
    dec_.visit_parameters(prefix + "dec.", visit);
  }
  void set_training(bool training) { dec_.set_training(training); }

  Linear<T, B>& fc() { return fc_; }
  conv_stack& dec() { return dec_; }

 private:
  static std::int64_t grid(std::int64_t size) {
    check(size > 0 && size % 4 == 0,
          [&] { return cat("ConvDecoder: image_size must be a positive multiple of 4, got ", size); });
    return size / 4;
  }

  Linear<T, B> fc_;
  ReLU<T, B> relu_;
  Reshape<T, B> reshape_;
  conv_stack dec_;
  std::int64_t latent_;
};

}  // namespace vae
