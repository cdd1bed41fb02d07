// DeviceAutoencoder: vae::Autoencoder's model for backends without host-addressable memory (cuda).
#pragma once
#include <concepts>
#include <cstdint>
#include <string>

#include "vae/core/concepts.hpp"
#include "vae/core/error.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"
#include "vae/ops/activations.hpp"
#include "vae/ops/losses.hpp"

namespace vae::cli {

// The same model and loss as vae::Autoencoder (per-image sums of the elementwise loss averaged over the batch),
// but with no host loop over the model's tensors: vae::Autoencoder divides the loss gradient by N and applies the
// sigmoid of decode() element by element on the host, which a cuda tensor does not allow. Here the 1/N is the loss
// kernel's gradient scale and the sigmoid is the activation op. (Kept in tools/ until the library's Autoencoder does
// the same; on cpu the CLI still uses vae::Autoencoder, whose results it keeps bit for bit.)
template <class Encoder, class Decoder, class Loss, class T, class B>
class DeviceAutoencoder {
  static_assert(Layer<Encoder> && std::same_as<typename Encoder::value_type, T>,
                "DeviceAutoencoder: the encoder must be a Layer over tensor<T, B>");
  static_assert(Layer<Decoder> && std::same_as<typename Decoder::value_type, T>,
                "DeviceAutoencoder: the decoder must be a Layer over tensor<T, B>");

 public:
  using value_type = T;
  using backend = B;
  using tensor_type = tensor<T, B>;

  DeviceAutoencoder(Encoder encoder, Decoder decoder, Loss loss = Loss{})
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
    const double sum = kernel<elementwise_loss_op<Loss>, B>::run(loss_, x.numel(), out.data(), x.data(), 1.0 / n,
                                                                 dout_.data(), static_cast<T*>(nullptr));
    enc_.backward(dec_.backward(dout_));
    return sum / n;
  }
  double train_step_loss(const tensor_type& x, generator&, std::int64_t) { return train_step_loss(x); }

  void encode(const tensor_type& x, tensor_type& code) { code = enc_.forward(x); }
  // The reconstruction in data space: sigmoid of the decoder output for BCEWithLogits, the output otherwise.
  void decode(const tensor_type& code, tensor_type& pixels) {
    pixels = dec_.forward(code);
    if constexpr (std::same_as<Loss, losses::BCEWithLogits>)
      ops::activation_forward<B>(activation::Sigmoid{}, pixels.numel(), pixels.data(), pixels.data());
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

 private:
  Encoder enc_;
  Decoder dec_;
  Loss loss_;
  tensor_type dout_;
};

}  // namespace vae::cli
