// Residual<L>: a skip connection around a layer, y = x + L(x), dx = dy + L.backward(dy).
#pragma once
#include <concepts>
#include <string>
#include <utility>

#include "vae/core/concepts.hpp"
#include "vae/ops/add.hpp"

namespace vae {

// Parameter names pass through unchanged: Residual forwards visit_parameters with the prefix it was given,
// so Residual<Linear> inside a Sequential at index 1 names its weight "1.weight". This matches a PyTorch
// module whose forward computes x + self.inner(x) with the wrapped layers registered directly on it, and
// keeps checkpoints interchangeable with models written that way. (A PyTorch wrapper that holds the layer
// as an attribute "fn" would add "fn." — give Residual's visit a prefix for that case.)
template <Layer L>
class Residual {
 public:
  using value_type = typename L::value_type;
  using backend = typename L::backend;
  using tensor_t = tensor<value_type, backend>;

  explicit Residual(L inner) : inner_(std::move(inner)) {}

  const tensor_t& forward(const tensor_t& x) {
    const auto& f = inner_.forward(x);
    check(f.shape() == x.shape(), [&] {
      return cat("Residual::forward: the inner layer must keep the shape of its input, got ", x.shape(), " → ",
                 f.shape());
    });
    y_.resize(x.shape());
    ops::add<backend>(x.numel(), x.data(), f.data(), y_.data());
    return y_;
  }

  const tensor_t& backward(const tensor_t& dy) {
    check_shape(dy.shape(), y_.shape(), "Residual::backward: dy");
    const auto& dxi = inner_.backward(dy);
    check(dxi.shape() == dy.shape(), [&] {
      return cat("Residual::backward: the inner layer's input gradient has shape ", dxi.shape(), ", expected ",
                 dy.shape(), " (is its input gradient turned off?)");
    });
    dx_.resize(dy.shape());
    ops::add<backend>(dy.numel(), dy.data(), dxi.data(), dx_.data());
    return dx_;
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    inner_.visit_parameters(prefix, std::forward<Visitor>(visit));
  }

  void set_training(bool training) { vae::set_training(inner_, training); }
  void set_communicator(dist::collective* comm) { vae::set_communicator(inner_, comm); }

  L& inner() { return inner_; }
  const L& inner() const { return inner_; }

 private:
  L inner_;
  tensor_t y_, dx_;
};

}  // namespace vae
