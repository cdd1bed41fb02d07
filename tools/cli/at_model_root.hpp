// AtModelRoot: a layer whose parameters are named one level up (vae_conv.py's decoder lives in two model attributes).
#pragma once
#include <string>

#include "vae/core/concepts.hpp"
#include "vae/core/tensor.hpp"

namespace vae::cli {

// Visits a part's parameters one level up: vae_conv.py keeps the decoder's fc and conv stack as two model
// attributes ("fc.*", "dec.*"), while VAE<> visits its decoder under "dec."; this drops that last component.
template <Layer L>
class AtModelRoot {
 public:
  using value_type = typename L::value_type;
  using backend = typename L::backend;
  explicit AtModelRoot(L inner) : inner_(std::move(inner)) {}
  const tensor<value_type, backend>& forward(const tensor<value_type, backend>& x) { return inner_.forward(x); }
  const tensor<value_type, backend>& backward(const tensor<value_type, backend>& dy) { return inner_.backward(dy); }
  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    std::string p = prefix;
    if (!p.empty() && p.back() == '.') p.pop_back();
    const auto dot = p.rfind('.');
    inner_.visit_parameters(dot == std::string::npos ? std::string() : p.substr(0, dot + 1), visit);
  }
  void set_training(bool t) { vae::set_training(inner_, t); }

 private:
  L inner_;
};

}  // namespace vae::cli
