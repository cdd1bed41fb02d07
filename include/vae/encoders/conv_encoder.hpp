// ConvEncoder: Conv(4,s2,p1)-ReLU-Conv(4,s2,p1)-ReLU-Flatten-Linear, the reference vae_conv.py encoder `enc`.
#pragma once
#include <cstdint>
#include <string>

#include "vae/layers/activations.hpp"
#include "vae/layers/conv2d.hpp"
#include "vae/layers/flatten.hpp"
#include "vae/layers/linear.hpp"
#include "vae/layers/sequential.hpp"

namespace vae {

template <class T = float, class B = cpu>
class ConvEncoder {
 public:
  using value_type = T;
  using backend = B;
  using network = Sequential<Conv2d<T, B>, ReLU<T, B>, Conv2d<T, B>, ReLU<T, B>, Flatten<T, B>, Linear<T, B>>;

  // Names follow nn.Sequential: "0.*" (conv 1), "2.*" (conv 2), "5.*" (linear); with the prefix "enc." these are
  // vae_conv.py's state_dict keys. image_size (square) must be divisible by 4; the linear layer takes
  // c2·(image_size/4)² features. vae_conv.py: ConvEncoder(1, 28, 32, 64, 2·32).
  ConvEncoder(std::int64_t in_channels, std::int64_t image_size, std::int64_t c1, std::int64_t c2,
              std::int64_t out_features)
      : net_(make(in_channels, image_size, c1, c2, out_features)), in_c_(in_channels), size_(image_size) {
    net_.template get<0>().set_input_gradient(false);  // the data needs no gradient (PyTorch skips it too)
  }

  // x: [N, C, H, W] or flattened [N, C·H·W] (taken as NCHW).
  const tensor<T, B>& forward(const tensor<T, B>& x) {
    if (x.rank() == 2 && x.dim(1) == in_c_ * size_ * size_) {
      x4_.resize({x.dim(0), in_c_, size_, size_});
      B::copy(x4_.data(), x.data(), static_cast<std::size_t>(x.numel()));
      flat_input_ = true;
      return net_.forward(x4_);
    }
    check(x.rank() == 4 && x.dim(1) == in_c_ && x.dim(2) == size_ && x.dim(3) == size_, [&] {
      return cat("ConvEncoder: expected input [N, ", in_c_, ", ", size_, ", ", size_, "] or [N, ",
                 in_c_ * size_ * size_, "], got ", x.shape());
    });
    flat_input_ = false;
    return net_.forward(x);
  }

  // Returns dx in the input's layout, or an empty tensor when the input gradient is off (the default).
  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    const auto& dx = net_.backward(dy);
    if (flat_input_ && input_grad_) {
      dx_flat_.resize({dx.dim(0), dx.numel() / dx.dim(0)});
      B::copy(dx_flat_.data(), dx.data(), static_cast<std::size_t>(dx.numel()));
      return dx_flat_;
    }
    return dx;
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    net_.visit_parameters(prefix, visit);
  }
  void set_training(bool training) { net_.set_training(training); }
  // Turn on to get d loss / d x (e.g. for gradient checks); off by default.
  void set_input_gradient(bool enabled) {
    input_grad_ = enabled;
    net_.template get<0>().set_input_gradient(enabled);
  }
  network& net() { return net_; }

 private:
  static network make(std::int64_t in_c, std::int64_t size, std::int64_t c1, std::int64_t c2, std::int64_t out) {
    check(size > 0 && size % 4 == 0,
          [&] { return cat("ConvEncoder: image_size must be a positive multiple of 4, got ", size); });
    const std::int64_t g = size / 4;
    return network(Conv2d<T, B>(in_c, c1, 4, 2, 1), ReLU<T, B>(), Conv2d<T, B>(c1, c2, 4, 2, 1), ReLU<T, B>(),
                   Flatten<T, B>(), Linear<T, B>(c2 * g * g, out));
  }

  network net_;
  std::int64_t in_c_, size_;
  bool flat_input_ = false, input_grad_ = false;
  tensor<T, B> x4_, dx_flat_;
};

}  // namespace vae
