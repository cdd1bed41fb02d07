// SplitOutputDecoder: a decoder whose last layer can be differentiated on its own (the adaptive GAN weight reads
// gradients at that layer's weight), and DecoderWithOutput<Body, Out>, which makes one from two layers.
#pragma once
#include <concepts>
#include <string>
#include <utility>

#include "vae/core/concepts.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"

namespace vae {

// A Layer x̂ = output_layer(body(z)) that exposes the split: output_layer() is the Layer that writes x̂ (taming's
// conv_out) and has a weight() parameter; backward_body(dh) runs the backward of everything before it, given the
// gradient in the output layer's input, and returns dz. Its backward(dy) equals
// backward_body(output_layer().backward(dy)).
template <class D>
concept SplitOutputDecoder =
    Layer<D> && requires(D& d, const tensor<typename D::value_type, typename D::backend>& t) {
      { d.output_layer().weight() } -> std::same_as<parameter<typename D::value_type>&>;
      { d.output_layer().backward(t) } -> std::convertible_to<const tensor<typename D::value_type, typename D::backend>&>;
      { d.backward_body(t) } -> std::convertible_to<const tensor<typename D::value_type, typename D::backend>&>;
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
  const tensor<value_type, backend>& backward_body(const tensor<value_type, backend>& dh) {
    return body_.backward(dh);
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
  Out& output_layer() { return out_; }

 private:
  Body body_;
  Out out_;
  std::string out_name_;
};

}  // namespace vae
