// VQVAE<Encoder, Decoder, Quantizer>: x → z_e → (z_q, tokens) → x̂, loss = MSE(x̂, x) + the quantizer's loss.
#pragma once
#include <cstdint>
#include <string>
#include <utility>

#include "vae/core/concepts.hpp"
#include "vae/core/tensor.hpp"
#include "vae/dist/gradient_sync.hpp"
#include "vae/ops/losses.hpp"
#include "vae/quantizers/quantizer.hpp"

namespace vae {

// A policy bundle (DESIGN §1, VQ row). Encoder: a Layer x [N, C, H, W] → z_e [N, D, h, w]; Decoder: a Layer
// z_q [N, D, h, w] → x̂ with x's shape; Quantizer: VectorQuantizer, EMAVectorQuantizer, FSQ, GumbelQuantizer or
// ResidualVQ. Parameter names: "enc." + encoder names, "codebook." + quantizer names ("codebook.weight" as the
// reference's nn.Embedding), "dec." + decoder names.
//
// Training step (the trainer zeroes grads before and runs the optimizer after):
//   double loss = model.train_step_loss(x, step);    // forward, backward; grads ADDED to the store
// Evaluation: model.set_training(false) first (no k-means, EMA updates or restarts; Gumbel takes the argmax),
// then eval_mse / reconstruct / encode_tokens / decode_tokens. quantizer().stats() accumulates code usage
// over every forward until quantizer().stats().reset() (call it at each epoch/evaluation start).
// Backends: every quantizer on cpu; on cuda VectorQuantizer and EMAVectorQuantizer (without projections, cosine,
// k-means or restarts) with device encoders/decoders (ResNetEncoder/ResNetDecoder, ConvEncoder/ConvDecoder with
// residual blocks): tensors in and out (x, x̂, tokens) are then device tensors; the losses come back as doubles.
template <Layer Encoder, Layer Decoder, Quantizer Q, class T = float, class B = cpu>
  requires std::same_as<typename Encoder::value_type, T> && std::same_as<typename Decoder::value_type, T> &&
           std::same_as<typename Q::value_type, T>
class VQVAE {
 public:
  using value_type = T;
  using backend = B;
  using encoder_type = Encoder;
  using decoder_type = Decoder;
  using quantizer_type = Q;

  VQVAE(Encoder encoder, Decoder decoder, Q quantizer)
      : enc_(std::move(encoder)), dec_(std::move(decoder)), q_(std::move(quantizer)) {}

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    enc_.visit_parameters(prefix + "enc.", visit);
    q_.visit_parameters(prefix + "codebook.", visit);
    dec_.visit_parameters(prefix + "dec.", visit);
  }

  void set_training(bool training) {
    vae::set_training(enc_, training);
    q_.set_training(training);
    vae::set_training(dec_, training);
  }

  // One step: forward, F.mse_loss(x̂, x) (mean over all elements) + quantizer loss, and the full backward
  // (decoder → straight-through quantizer → encoder), ADDING into parameter gradients. Returns the total.
  // `step` drives step-dependent quantizers (Gumbel temperature); others ignore it.
  double train_step_loss(const tensor<T, B>& x, std::int64_t step) {
    if constexpr (HasStep<Q>) q_.set_step(step);
    (void)step;
    const auto& xh = forward(x);
    check(xh.shape() == x.shape(), [&] {
      return cat("VQVAE: decoder output ", xh.shape(), " does not match the input ", x.shape());
    });
    last_rec_ = ops::mse_loss(xh, x, &dxh_);
    last_q_ = q_.loss();
    const auto& dzq = dec_.backward(dxh_);
    dist::mark_gradients_ready(sync_, dec_);  // its allreduce runs beside the rest of the backward
    const auto& dz = q_.backward(dzq);
    dist::mark_gradients_ready(sync_, q_);
    enc_.backward(dz);
    dist::mark_gradients_ready(sync_, enc_);
    return last_rec_ + last_q_;
  }

  // x̂ for x in the current mode (set_training(false) for evaluation).
  void reconstruct(const tensor<T, B>& x, tensor<T, B>& out) { out = forward(x); }

  // F.mse_loss(x̂, x), mean over all elements of the batch.
  double eval_mse(const tensor<T, B>& x) {
    const auto& xh = forward(x);
    check(xh.shape() == x.shape(), [&] {
      return cat("VQVAE::eval_mse: decoder output ", xh.shape(), " does not match the input ", x.shape());
    });
    return ops::mse_loss(xh, x);
  }

  // Tokens of x: [N, h, w] int32 (ResidualVQ: [levels, N, h, w]).
  void encode_tokens(const tensor<T, B>& x, tensor<std::int32_t, B>& tokens) {
    q_.forward(enc_.forward(x));
    tokens = q_.indices();
  }
  // x̂ from tokens: the quantizer's lookup, then the decoder. Equals reconstruct(x) for tokens = encode_tokens(x)
  // in evaluation mode, bit for bit.
  void decode_tokens(const tensor<std::int32_t, B>& tokens, tensor<T, B>& out) {
    q_.lookup(tokens, zq_);
    out = dec_.forward(zq_);
  }

  double last_reconstruction_loss() const { return last_rec_; }
  double last_quantizer_loss() const { return last_q_; }
  Encoder& encoder() { return enc_; }
  Decoder& decoder() { return dec_; }
  Q& quantizer() { return q_; }
  codebook_stats& stats() { return q_.stats(); }
  // Data-parallel training: the decoder's, the codebook's, then the encoder's gradients are declared final to
  // `sync` as the backward finishes them. Null (the default): one process.
  void set_gradient_sync(dist::gradient_sync<T>* sync) { sync_ = sync; }

 private:
  dist::gradient_sync<T>* sync_ = nullptr;
  const tensor<T, B>& forward(const tensor<T, B>& x) { return dec_.forward(q_.forward(enc_.forward(x))); }

  Encoder enc_;
  Decoder dec_;
  Q q_;
  tensor<T, B> dxh_, zq_;
  double last_rec_ = 0, last_q_ = 0;
};

}  // namespace vae
