// Sequential<Ls...>: layers composed at compile time, run in order; names follow nn.Sequential ("0.weight").
#pragma once
#include <string>
#include <tuple>
#include <utility>

#include "vae/core/concepts.hpp"
#include "vae/ops/conv_fusion.hpp"

namespace vae {

namespace detail {
// A layer that applies a ReLU in its own output pass: Linear::forward_relu, or a convolution's ReLU epilogue.
template <class L, class X>
concept applies_relu = requires(L& l, const X& x) { l.forward_relu(x); } ||
                       requires(L& l, const X& x) { l.forward(x, conv_output<X>{.relu = true}); };
template <class L, class X>
const X& forward_with_relu(L& l, const X& x) {
  if constexpr (requires { l.forward_relu(x); })
    return l.forward_relu(x);
  else
    return l.forward(x, conv_output<X>{.relu = true});
}
template <class L, class A, class X>
concept relu_fusable_pair = applies_relu<L, X> && requires(A& a, const X& x) { a.forward_fused(x); };
// Whether layer I of Ls... applies a ReLU itself and layer I + 1 is a ReLU that can pass its output through.
template <std::size_t I, class X, class... Ls>
constexpr bool fuses_relu_at() {
  if constexpr (I + 1 >= sizeof...(Ls)) {
    return false;
  } else {
    using layers = std::tuple<Ls...>;
    return relu_fusable_pair<std::tuple_element_t<I, layers>, std::tuple_element_t<I + 1, layers>, X>;
  }
}
// Whether layer I − 1 is a ReLU whose derivative layer I applies to its own input gradient (conv_input_grad).
template <std::size_t I, class X, class... Ls>
constexpr bool fuses_relu_backward_at() {
  if constexpr (I == 0 || I >= sizeof...(Ls)) {
    return false;
  } else {
    using layers = std::tuple<Ls...>;
    return requires(std::tuple_element_t<I - 1, layers>& a, std::tuple_element_t<I, layers>& l, const X& x) {
      a.backward_fused(x);
      l.backward(x, conv_input_grad<X>{.relu_input = true});
    };
  }
}
}  // namespace detail

template <Layer First, Layer... Rest>
class Sequential {
 public:
  using value_type = typename First::value_type;
  using backend = typename First::backend;
  static_assert((std::same_as<typename Rest::value_type, value_type> && ...),
                "Sequential: every layer must use the same scalar type");
  static_assert((std::same_as<typename Rest::backend, backend> && ...),
                "Sequential: every layer must use the same backend");
  static constexpr std::size_t size = 1 + sizeof...(Rest);

  // A layer that can apply a ReLU in its own output pass (Linear::forward_relu, a convolution's epilogue) directly
  // followed by a
  // ReLU: one pass instead of two, and the ReLU passes the output through (ReLU::forward_fused). Names, backward and
  // results are those of the two layers run one after the other.
  template <std::size_t I>
  static constexpr bool fuses_relu_at = detail::fuses_relu_at<I, tensor<value_type, backend>, First, Rest...>();
  // The same in backward: a ReLU followed by a layer that can apply the ReLU's derivative where it writes its input
  // gradient (Conv2d/ConvTranspose2d's conv_input_grad::relu_input); the ReLU passes it through
  // (ReLU::backward_fused).
  template <std::size_t I>
  static constexpr bool fuses_relu_backward_at =
      detail::fuses_relu_backward_at<I, tensor<value_type, backend>, First, Rest...>();

  explicit Sequential(First first, Rest... rest) : layers_(std::move(first), std::move(rest)...) {}

  const tensor<value_type, backend>& forward(const tensor<value_type, backend>& x) {
    return forward_from<0>(x);
  }
  const tensor<value_type, backend>& backward(const tensor<value_type, backend>& dy) {
    return backward_from<size - 1>(dy);
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (std::get<I>(layers_).visit_parameters(prefix + std::to_string(I) + ".", visit), ...);
    }(std::make_index_sequence<size>{});
  }

  void set_training(bool training) {
    std::apply([&](auto&... layer) { (vae::set_training(layer, training), ...); }, layers_);
  }
  void set_communicator(dist::collective* comm) {
    std::apply([&](auto&... layer) { (vae::set_communicator(layer, comm), ...); }, layers_);
  }

  template <std::size_t I>
  auto& get() { return std::get<I>(layers_); }
  template <std::size_t I>
  const auto& get() const { return std::get<I>(layers_); }

 private:
  template <std::size_t I>
  const tensor<value_type, backend>& forward_from(const tensor<value_type, backend>& x) {
    if constexpr (fuses_relu_at<I>) {
      const auto& y = std::get<I + 1>(layers_).forward_fused(detail::forward_with_relu(std::get<I>(layers_), x));
      if constexpr (I + 2 < size) return forward_from<I + 2>(y);
      else return y;
    } else {
      const auto& y = std::get<I>(layers_).forward(x);
      if constexpr (I + 1 < size) return forward_from<I + 1>(y);
      else return y;
    }
  }
  template <std::size_t I>
  const tensor<value_type, backend>& backward_from(const tensor<value_type, backend>& dy) {
    if constexpr (fuses_relu_backward_at<I>) {
      const auto& dx = std::get<I - 1>(layers_).backward_fused(
          std::get<I>(layers_).backward(dy, conv_input_grad<tensor<value_type, backend>>{.relu_input = true}));
      if constexpr (I > 1) return backward_from<I - 2>(dx);
      else return dx;
    } else {
      const auto& dx = std::get<I>(layers_).backward(dy);
      if constexpr (I > 0) return backward_from<I - 1>(dx);
      else return dx;
    }
  }

  std::tuple<First, Rest...> layers_;
};

}  // namespace vae
