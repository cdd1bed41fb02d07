// Autoencoder: deterministic encoder → code → decoder, trained on a reconstruction loss policy (ops/losses.hpp).
#pragma once
#include <cmath>
#include <concepts>
#include <cstdint>
#include <string>

#include "vae/core/concepts.hpp"
#include "vae/core/error.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"
#include "vae/dist/gradient_sync.hpp"
#include "vae/ops/axpy.hpp"
#include "vae/ops/likelihood_terms.hpp"
#include "vae/ops/losses.hpp"

namespace vae {

// A reconstruction loss: an elementwise loss policy of ops/losses.hpp (losses::MSE, losses::L1,
// losses::BCEWithLogits: value(x, t), derivative(x, t), name).
template <class R>
concept ReconstructionLoss = requires(const R& r, double x) {
  { r.value(x, x) } -> std::convertible_to<double>;
  { r.derivative(x, x) } -> std::convertible_to<double>;
  { R::name } -> std::convertible_to<const char*>;
};

// loss = (1/N) Σ_i Σ_p loss(decoder(encoder(x))_ip, x_ip): per-image sums averaged over the batch (as the VAE's
// reconstruction term; F.mse_loss(reduction="sum") / N). The decoder output must have x's element count. Every step
// is an op, so the same code runs on every backend.
template <class Encoder, class Decoder, ReconstructionLoss Loss = losses::MSE, class T = float, class B = cpu>
class Autoencoder {
  static_assert(Layer<Encoder> && std::same_as<typename Encoder::value_type, T>,
                "Autoencoder: the encoder must be a Layer over tensor<T, B> (same scalar T as the model)");
  static_assert(Layer<Decoder> && std::same_as<typename Decoder::value_type, T>,
                "Autoencoder: the decoder must be a Layer over tensor<T, B> (same scalar T as the model)");

 public:
  using value_type = T;
  using backend = B;
  using tensor_type = tensor<T, B>;

  Autoencoder(Encoder encoder, Decoder decoder, Loss loss = Loss{})
      : enc_(std::move(encoder)), dec_(std::move(decoder)), loss_(loss) {}

  // Forward + backward; ADDS gradients into the parameter store; returns the batch-mean loss.
  double train_step_loss(const tensor_type& x) {
    check(x.rank() >= 2 && x.dim(0) > 0,
          [&] { return cat("Autoencoder::train_step_loss: expected a batch [N, ...], got ", x.shape()); });
    const auto& out = dec_.forward(enc_.forward(x));
    check(out.numel() == x.numel(), [&] {
      return cat("Autoencoder: decoder output ", out.shape(), " must have as many values as the input ", x.shape());
    });
    const auto n = static_cast<double>(x.dim(0));
    dout_.resize(out.shape());
    const double sum = ops::elementwise_loss<B>(loss_, x.numel(), out.data(), x.data(), loss_reduction::sum, dout_.data());
    ops::divide<B>(dout_.numel(), dout_.data(), n, dout_.data());
    const auto& dcode = dec_.backward(dout_);
    dist::mark_gradients_ready(sync_, dec_);  // its allreduce runs beside the encoder's backward
    enc_.backward(dcode);
    dist::mark_gradients_ready(sync_, enc_);
    return sum / n;
  }
  // The trainer's uniform signature (rng and step are unused).
  double train_step_loss(const tensor_type& x, generator&, std::int64_t) { return train_step_loss(x); }

  // The code for x (the encoder's output).
  void encode(const tensor_type& x, tensor_type& code) { code = enc_.forward(x); }
  // The reconstruction in data space: sigmoid of the decoder output for BCEWithLogits, the output otherwise.
  void decode(const tensor_type& code, tensor_type& pixels) {
    pixels = dec_.forward(code);
    if constexpr (std::same_as<Loss, losses::BCEWithLogits>)  // σ, as BernoulliLikelihood's mean
      ops::bernoulli_mean<B>(pixels.numel(), pixels.data(), pixels.data());
  }
  void reconstruct(const tensor_type& x, tensor_type& pixels) { decode(enc_.forward(x), pixels); }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    enc_.visit_parameters(prefix + "enc.", visit);
    dec_.visit_parameters(prefix + "dec.", visit);
  }
  void set_training(bool training) {
    vae::set_training(enc_, training);
    vae::set_training(dec_, training);
  }
  Encoder& encoder() { return enc_; }
  Decoder& decoder() { return dec_; }
  // Data-parallel training: the decoder's, then the encoder's gradients are declared final to `sync` as the
  // backward finishes them. Null (the default): one process.
  void set_gradient_sync(dist::gradient_sync<T>* sync) { sync_ = sync; }

 private:
  dist::gradient_sync<T>* sync_ = nullptr;
  Encoder enc_;
  Decoder dec_;
  Loss loss_;
  tensor_type dout_;
};

}  // namespace vae
