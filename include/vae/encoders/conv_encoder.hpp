// ConvEncoder: Conv(4,s2,p1)-ReLU-Conv(4,s2,p1)-ReLU-[k ResBlocks-ReLU]-Flatten-Linear (vae_conv.py's `enc` at k = 0).
#pragma once
#include <cstdint>
#include <string>

#include "vae/layers/activations.hpp"
#include "vae/layers/conv2d.hpp"
#include "vae/layers/flatten.hpp"
#include "vae/layers/linear.hpp"
#include "vae/layers/res_stack.hpp"
#include "vae/layers/sequential.hpp"

namespace vae {

// Equivalent PyTorch, with k = res.blocks residual blocks (vqvae.py's Res: x + c2(relu(c1(relu(x)))), c1 3×3
// c2→res.hidden, c2 1×1 res.hidden→c2; res.hidden defaults to c2/2):
//   nn.Sequential(Conv2d(in, c1, 4, 2, 1), ReLU(), Conv2d(c1, c2, 4, 2, 1), ReLU(),
//                 Res_0, ..., Res_{k−1}, ReLU() if k > 0, Flatten(), Linear(c2·(s/4)², out))
// Names: "0.*", "2.*", then "4.c1.*", "4.c2.*", ..., "(3+k).c2.*", and the Linear at "5.*" when k = 0 (exactly
// vae_conv.py's encoder: same layers, names, initial draws and results) or at "(6+k).*" when k > 0.
template <class T = float, class B = cpu>
class ConvEncoder {
 public:
  using value_type = T;
  using backend = B;
  // The layers of the k = 0 network; the residual stack, when there is one, runs between get<3> and get<4>.
  using network = Sequential<Conv2d<T, B>, ReLU<T, B>, Conv2d<T, B>, ReLU<T, B>, Flatten<T, B>, Linear<T, B>>;

  // With the prefix "enc." the names are vae_conv.py's state_dict keys. image_size (square) must be divisible by 4;
  // the linear layer takes c2·(image_size/4)² features. vae_conv.py: ConvEncoder(1, 28, 32, 64, 2·32).
  ConvEncoder(std::int64_t in_channels, std::int64_t image_size, std::int64_t c1, std::int64_t c2,
              std::int64_t out_features, const res_stack_options& res = {})
      : net_(make(in_channels, image_size, c1, c2, out_features)),
        res_(c2, res, "ConvEncoder"),
        in_c_(in_channels),
        size_(image_size) {
    net_.template get<0>().set_input_gradient(false);  // the data needs no gradient (PyTorch skips it too)
  }

  // x: [N, C, H, W] or flattened [N, C·H·W] (taken as NCHW).
  const tensor<T, B>& forward(const tensor<T, B>& x) {
    if (x.rank() == 2 && x.dim(1) == in_c_ * size_ * size_) {
      x4_.resize({x.dim(0), in_c_, size_, size_});
      B::copy(x4_.data(), x.data(), static_cast<std::size_t>(x.numel()));
      flat_input_ = true;
      return run(x4_);
    }
    check(x.rank() == 4 && x.dim(1) == in_c_ && x.dim(2) == size_ && x.dim(3) == size_, [&] {
      return cat("ConvEncoder: expected input [N, ", in_c_, ", ", size_, ", ", size_, "] or [N, ",
                 in_c_ * size_ * size_, "], got ", x.shape());
    });
    flat_input_ = false;
    return run(x);
  }

  // Returns dx in the input's layout, or an empty tensor when the input gradient is off (the default).
  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    const tensor<T, B>* g = &net_.template get<4>().backward(net_.template get<5>().backward(dy));
    g = &res_.backward(*g);
    g = &net_.template get<1>().backward_through(net_.template get<2>(), net_.template get<3>().backward(*g));
    const auto& dx = net_.template get<0>().backward(*g);
    if (flat_input_ && input_grad_) {
      dx_flat_.resize({dx.dim(0), dx.numel() / dx.dim(0)});
      B::copy(dx_flat_.data(), dx.data(), static_cast<std::size_t>(dx.numel()));
      return dx_flat_;
    }
    return dx;
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    if (res_.blocks() == 0) {
      net_.visit_parameters(prefix, visit);
      return;
    }
    net_.template get<0>().visit_parameters(prefix + "0.", visit);
    net_.template get<2>().visit_parameters(prefix + "2.", visit);
    res_.visit_parameters_from(prefix, 4, visit);
    net_.template get<5>().visit_parameters(prefix + std::to_string(6 + res_.blocks()) + ".", visit);
  }
  void set_training(bool training) { net_.set_training(training); }
  // Turn on to get d loss / d x (e.g. for gradient checks); off by default.
  void set_input_gradient(bool enabled) {
    input_grad_ = enabled;
    net_.template get<0>().set_input_gradient(enabled);
  }
  network& net() { return net_; }  // without the residual stack
  ResStack<T, B>& res() { return res_; }

 private:
  static network make(std::int64_t in_c, std::int64_t size, std::int64_t c1, std::int64_t c2, std::int64_t out) {
    check(size > 0 && size % 4 == 0,
          [&] { return cat("ConvEncoder: image_size must be a positive multiple of 4, got ", size); });
    const std::int64_t g = size / 4;
    return network(Conv2d<T, B>(in_c, c1, 4, 2, 1), ReLU<T, B>(), Conv2d<T, B>(c1, c2, 4, 2, 1), ReLU<T, B>(),
                   Flatten<T, B>(), Linear<T, B>(c2 * g * g, out));
  }

  // Runs the layers in the PyTorch order above (with k = 0 the same calls as net_.forward).
  const tensor<T, B>& run(const tensor<T, B>& x) {
    const tensor<T, B>* h = &net_.template get<0>().forward(x);
    h = &net_.template get<3>().forward(net_.template get<2>().forward(net_.template get<1>().forward(*h)));
    h = &res_.forward(*h);
    return net_.template get<5>().forward(net_.template get<4>().forward(*h));
  }

  network net_;
  ResStack<T, B> res_;
  std::int64_t in_c_, size_;
  bool flat_input_ = false, input_grad_ = false;
  tensor<T, B> x4_, dx_flat_;
};

}  // namespace vae
