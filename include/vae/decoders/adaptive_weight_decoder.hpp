// AdaptiveWeightDecoder: a decoder whose last layer's weight gradient can be taken alone for any output gradient (the
// adaptive GAN weight compares two of them), and DecoderWithOutput<Body, Out>, which makes one from two layers.
#pragma once
#include <concepts>
#include <string>
#include <utility>

#include "vae/core/concepts.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"

namespace vae {

// A decoder Layer that names its last layer (taming: conv_out) and writes dw = ∂L/∂(last layer's weight) for a loss
// whose gradient in the last forward's output is dy, without touching any stored gradient:
//   last_layer().weight()                  the weight, parameter<T>&
//   last_layer_weight_gradient(dy, dw)     dw resized to the weight's shape and WRITTEN
// (VQGANDecoder; DecoderWithOutput over any output layer with weight_gradient, e.g. Conv2d).
template <class D>
concept AdaptiveWeightDecoder =
    Layer<D> && requires(D& d, const tensor<typename D::value_type, typename D::backend>& dy,
                         tensor<typename D::value_type, typename D::backend>& dw) {
      { d.last_layer().weight() } -> std::same_as<parameter<typename D::value_type>&>;
      d.last_layer_weight_gradient(dy, dw);
    };

// Body then Out, named "<prefix><body names>" and "<prefix><out_name>.<out names>" (out_name "conv_out" by default,
// so a body named as taming's decoder and a Conv2d output give taming's names).
template <Layer Body, Layer Out>
  requires std::same_as<typename Body::value_type, typename Out::value_type> &&
           std::same_as<typename Body::backend, typename Out::backend>
class DecoderWithOutput {
 public:
  using value_type = typename Body::value_type;
  using backend = typename Body::backend;

  DecoderWithOutput(Body body, Out out, std::string out_name = "conv_out")
      : body_(std::move(body)), out_(std::move(out)), out_name_(std::move(out_name)) {}

  const tensor<value_type, backend>& forward(const tensor<value_type, backend>& x) {
    return out_.forward(body_.forward(x));
  }
  const tensor<value_type, backend>& backward(const tensor<value_type, backend>& dy) {
    return body_.backward(out_.backward(dy));
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    body_.visit_parameters(prefix, visit);
    out_.visit_parameters(prefix + out_name_ + ".", visit);
  }
  void set_training(bool training) {
    vae::set_training(body_, training);
    vae::set_training(out_, training);
  }

  Body& body() { return body_; }
  Out& last_layer() { return out_; }
  void last_layer_weight_gradient(const tensor<value_type, backend>& dy, tensor<value_type, backend>& dw)
    requires requires(Out& o) { o.weight_gradient(dy, dw); }
  {
    out_.weight_gradient(dy, dw);
  }

 private:
  Body body_;
  Out out_;
  std::string out_name_;
};

}  // namespace vae
