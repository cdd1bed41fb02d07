// MLPEncoder: in → h1 → h2 → out with ReLU (the reference vae_mlp.py encoder when out = 2·latent).
#pragma once
#include <cstdint>
#include <string>

#include "vae/layers/activations.hpp"
#include "vae/layers/linear.hpp"
#include "vae/layers/sequential.hpp"

namespace vae {

template <class T = float, class B = cpu>
class MLPEncoder {
 public:
  using value_type = T;
  using backend = B;
  using network = Sequential<Linear<T, B>, ReLU<T, B>, Linear<T, B>, ReLU<T, B>, Linear<T, B>>;

  // Names follow nn.Sequential: 0.weight, 2.weight, 4.weight (ReLUs hold slots 1 and 3).
  MLPEncoder(std::int64_t in, std::int64_t hidden1, std::int64_t hidden2, std::int64_t out)
      : net_(Linear<T, B>(in, hidden1), ReLU<T, B>(), Linear<T, B>(hidden1, hidden2), ReLU<T, B>(),
             Linear<T, B>(hidden2, out)),
        in_(in) {
    // The data needs no gradient: skip the first layer's dx GEMM (PyTorch skips it too).
    net_.template get<0>().set_input_gradient(false);
  }

  // x: [N, in] (images flattened by the caller; the batch loader gathers them in that shape).
  const tensor<T, B>& forward(const tensor<T, B>& x) {
    check(x.rank() == 2 && x.dim(1) == in_,
          [&] { return cat("MLPEncoder: expected input [N, ", in_, "], got ", x.shape()); });
    return net_.forward(x);
  }
  const tensor<T, B>& backward(const tensor<T, B>& dy) { return net_.backward(dy); }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    net_.visit_parameters(prefix, visit);
  }
  void set_training(bool training) { net_.set_training(training); }
  // Off by default; VampPrior turns it on (its pseudo-inputs are parameters that need d loss / d input).
  void set_input_gradient(bool on) { net_.template get<0>().set_input_gradient(on); }

 private:
  network net_;
  std::int64_t in_;
};

}  // namespace vae
