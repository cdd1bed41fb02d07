// Reshape: views each sample of a batch under a given per-sample shape, [N, ...] → [N, per_sample...].
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"

namespace vae {

// The batch dimension (dim 0) is kept; the rest must hold exactly per_sample.numel() elements
// (PyTorch: x.reshape(x.shape[0], *per_sample), or nn.Unflatten(1, per_sample) on a flat input).
// The output is a copy under the new shape; backward copies dy back under x's shape.
template <class T = float, class B = cpu>
class Reshape {
 public:
  using value_type = T;
  using backend = B;

  explicit Reshape(vae::shape per_sample) : per_sample_(per_sample) {
    check(per_sample.rank() + 1 <= vae::shape::max_rank, [&] {
      return cat("Reshape: per-sample shape ", per_sample, " plus the batch dimension exceeds rank ",
                 vae::shape::max_rank);
    });
  }

  template <class Visitor>
  void visit_parameters(const std::string&, Visitor&&) {}

  const tensor<T, B>& forward(const tensor<T, B>& x) {
    check(x.rank() >= 1, [&] { return cat("Reshape::forward: expected input [N, ...], got ", x.shape()); });
    const std::int64_t n = x.dim(0);
    const std::int64_t per = n > 0 ? x.numel() / n : 0;
    check(n == 0 || per == per_sample_.numel(), [&] {
      return cat("Reshape::forward: cannot reshape input ", x.shape(), " (", per, " elements per sample) to [N] + ",
                 per_sample_, " (", per_sample_.numel(), " elements per sample)");
    });
    std::vector<std::int64_t> dims{n};
    for (const auto d : per_sample_) dims.push_back(d);
    x_shape_ = x.shape();
    forwarded_ = true;
    y_.resize(shape(dims));
    B::copy(y_.data(), x.data(), static_cast<std::size_t>(x.numel()));
    return y_;
  }

  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    check(forwarded_, "Reshape::backward called before forward");
    check_shape(dy.shape(), y_.shape(), "Reshape::backward: dy");
    dx_.resize(x_shape_);
    B::copy(dx_.data(), dy.data(), static_cast<std::size_t>(dy.numel()));
    return dx_;
  }

  const vae::shape& per_sample() const { return per_sample_; }

 private:
  vae::shape per_sample_;
  bool forwarded_ = false;
  vae::shape x_shape_;
  tensor<T, B> y_, dx_;
};

}  // namespace vae
