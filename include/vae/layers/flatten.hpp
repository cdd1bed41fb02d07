// Flatten (PyTorch nn.Flatten): merges dimensions start_dim..end_dim into one; [N, C, H, W] → [N, C·H·W] by default.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"

namespace vae {

// Dimensions are counted as in PyTorch: end_dim may be negative (−1 = last). The output is a copy of x
// under the merged shape (the layer owns its output); backward copies dy back under x's shape.
template <class T = float, class B = cpu>
class Flatten {
 public:
  using value_type = T;
  using backend = B;

  explicit Flatten(int start_dim = 1, int end_dim = -1) : start_(start_dim), end_(end_dim) {
    check(start_dim >= 0, [&] { return cat("Flatten: start_dim must be non-negative, got ", start_dim); });
  }

  template <class Visitor>
  void visit_parameters(const std::string&, Visitor&&) {}

  const tensor<T, B>& forward(const tensor<T, B>& x) {
    const int rank = static_cast<int>(x.rank());
    const int end = end_ < 0 ? end_ + rank : end_;
    check(start_ < rank && end >= start_ && end < rank, [&] {
      return cat("Flatten::forward: cannot flatten dims ", start_, "..", end_, " of an input of shape ", x.shape(),
                 " (rank ", rank, ")");
    });
    std::vector<std::int64_t> dims;
    std::int64_t merged = 1;
    for (int i = 0; i < rank; ++i) {
      if (i < start_ || i > end) dims.push_back(x.dim(static_cast<std::size_t>(i)));
      else merged *= x.dim(static_cast<std::size_t>(i));
      if (i == end) dims.push_back(merged);
    }
    x_shape_ = x.shape();
    forwarded_ = true;
    y_.resize(shape(dims));
    B::copy(y_.data(), x.data(), static_cast<std::size_t>(x.numel()));
    return y_;
  }

  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    check(forwarded_, "Flatten::backward called before forward");
    check_shape(dy.shape(), y_.shape(), "Flatten::backward: dy");
    dx_.resize(x_shape_);
    B::copy(dx_.data(), dy.data(), static_cast<std::size_t>(dy.numel()));
    return dx_;
  }

 private:
  int start_, end_;
  bool forwarded_ = false;
  vae::shape x_shape_;
  tensor<T, B> y_, dx_;
};

}  // namespace vae
