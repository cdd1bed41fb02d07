// MLPDecoder: latent → h1 → h2 → out with ReLU; emits the likelihood's parameters (e.g. Bernoulli logits).
#pragma once
#include <cstdint>
#include <string>

#include "vae/layers/activations.hpp"
#include "vae/layers/linear.hpp"
#include "vae/layers/sequential.hpp"

namespace vae {

template <class T = float, class B = cpu>
class MLPDecoder {
 public:
  using value_type = T;
  using backend = B;
  using network = Sequential<Linear<T, B>, ReLU<T, B>, Linear<T, B>, ReLU<T, B>, Linear<T, B>>;

  MLPDecoder(std::int64_t latent, std::int64_t hidden1, std::int64_t hidden2, std::int64_t out)
      : net_(Linear<T, B>(latent, hidden1), ReLU<T, B>(), Linear<T, B>(hidden1, hidden2), ReLU<T, B>(),
             Linear<T, B>(hidden2, out)) {}

  // z: [N, latent] → [N, out] (flat per-sample outputs; the caller knows the image shape).
  const tensor<T, B>& forward(const tensor<T, B>& z) { return net_.forward(z); }
  const tensor<T, B>& backward(const tensor<T, B>& dy) { return net_.backward(dy); }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    net_.visit_parameters(prefix, visit);
  }
  void set_training(bool training) { net_.set_training(training); }

 private:
  network net_;
};

}  // namespace vae
