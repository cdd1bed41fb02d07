// ConvDecoder: Linear-ReLU-view-[k ResBlocks-ReLU]-ConvT(4,s2,p1)-ReLU-ConvT(4,s2,p1) (vae_conv.py's fc+dec at k = 0).
#pragma once
#include <cstdint>
#include <string>

#include "vae/layers/activations.hpp"
#include "vae/layers/conv_transpose2d.hpp"
#include "vae/layers/linear.hpp"
#include "vae/layers/res_stack.hpp"
#include "vae/layers/reshape.hpp"
#include "vae/layers/sequential.hpp"

namespace vae {

// Parameter names: the decoder spans two attributes of vae_conv.py's model (self.fc and self.dec), so it
// names its parameters RELATIVE TO THE MODEL: visit_parameters(prefix) gives prefix + "fc.weight",
// prefix + "fc.bias", prefix + "dec.0.weight", ..., prefix + "dec.2.bias". A model laid out like vae_conv.py
// passes an empty prefix (the encoder, one attribute, gets "enc.").
//
// Equivalent PyTorch, with k = res.blocks residual blocks (vqvae.py's Res: x + c2(relu(c1(relu(x)))), c1 3×3
// c2→res.hidden, c2 1×1 res.hidden→c2; res.hidden defaults to c2/2):
//   self.fc = nn.Linear(latent, c2·(s/4)²)          # then ReLU and .view(-1, c2, s/4, s/4) in forward
//   self.dec = nn.Sequential(Res_0, ..., Res_{k−1}, ReLU() if k > 0,
//                            ConvTranspose2d(c2, c1, 4, 2, 1), ReLU(), ConvTranspose2d(c1, out, 4, 2, 1))
// Names: "fc.*", then "dec.j.c1.*", "dec.j.c2.*" for block j, and the transposed convs at "dec.0.*", "dec.2.*"
// when k = 0 (exactly vae_conv.py: same layers, names, initial draws and results) or "dec.(k+1).*", "dec.(k+3).*"
// when k > 0.
template <class T = float, class B = cpu>
class ConvDecoder {
 public:
  using value_type = T;
  using backend = B;
  using conv_stack = Sequential<ConvTranspose2d<T, B>, ReLU<T, B>, ConvTranspose2d<T, B>>;  // after the residual stack

  // z: [N, latent] → fc → [N, c2·(s/4)²] → ReLU → [N, c2, s/4, s/4] → ConvT → [N, c1, s/2, s/2] → ReLU → ConvT →
  // [N, out_channels, s, s]. vae_conv.py: ConvDecoder(32, 28, 64, 32, 1).
  ConvDecoder(std::int64_t latent, std::int64_t image_size, std::int64_t c2, std::int64_t c1,
              std::int64_t out_channels, const res_stack_options& res = {})
      : fc_(latent, c2 * grid(image_size) * grid(image_size)),
        reshape_(shape{c2, grid(image_size), grid(image_size)}),
        res_(c2, res, "ConvDecoder"),
        dec_(ConvTranspose2d<T, B>(c2, c1, 4, 2, 1), ReLU<T, B>(), ConvTranspose2d<T, B>(c1, out_channels, 4, 2, 1)),
        latent_(latent) {}

  const tensor<T, B>& forward(const tensor<T, B>& z) {
    check(z.rank() == 2 && z.dim(1) == latent_,
          [&] { return cat("ConvDecoder: expected input [N, ", latent_, "], got ", z.shape()); });
    return dec_.forward(res_.forward(reshape_.forward(relu_.forward(fc_.forward(z)))));
  }
  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    return fc_.backward(relu_.backward(reshape_.backward(res_.backward(dec_.backward(dy)))));
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    fc_.visit_parameters(prefix + "fc.", visit);
    if (res_.blocks() == 0) {
      dec_.visit_parameters(prefix + "dec.", visit);
      return;
    }
    res_.visit_parameters_from(prefix + "dec.", 0, visit);
    const std::int64_t k = res_.blocks();
    dec_.template get<0>().visit_parameters(prefix + "dec." + std::to_string(k + 1) + ".", visit);
    dec_.template get<2>().visit_parameters(prefix + "dec." + std::to_string(k + 3) + ".", visit);
  }
  void set_training(bool training) { dec_.set_training(training); }

  Linear<T, B>& fc() { return fc_; }
  conv_stack& dec() { return dec_; }  // the transposed convs, without the residual stack
  ResStack<T, B>& res() { return res_; }

 private:
  static std::int64_t grid(std::int64_t size) {
    check(size > 0 && size % 4 == 0,
          [&] { return cat("ConvDecoder: image_size must be a positive multiple of 4, got ", size); });
    return size / 4;
  }

  Linear<T, B> fc_;
  ReLU<T, B> relu_;
  Reshape<T, B> reshape_;
  ResStack<T, B> res_;
  conv_stack dec_;
  std::int64_t latent_;
};

}  // namespace vae
