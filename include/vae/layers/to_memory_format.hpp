// ToMemoryFormat layer: a 4-d activation passed on in a given memory format (PyTorch's x.to(memory_format=...)).
#pragma once
#include <string>

#include "vae/core/memory_format.hpp"
#include "vae/core/tensor.hpp"
#include "vae/ops/to_memory_format.hpp"

namespace vae {

// y = x laid out in `format` (a copy when x is in the other one, x itself when it already is), dx = dy laid out as x
// (dy is read as laid out as y: gradients follow their activations, whatever a fresh tensor's tag says).
// How a stack of convolutions moves its activations into the format its backend's convolutions prefer
// (ops::conv_activation_format) at one end and back at the other; the layers between keep their input's format.
template <class T = float, class B = cpu>
class ToMemoryFormat {
 public:
  using value_type = T;
  using backend = B;

  explicit ToMemoryFormat(memory_format format = memory_format::channels_first) : format_(format) {}

  template <class Visitor>
  void visit_parameters(const std::string&, Visitor&&) {}

  const tensor<T, B>& forward(const tensor<T, B>& x) {
    check(x.rank() == 4, [&] { return cat("ToMemoryFormat::forward: expected a 4-d activation, got ", x.shape()); });
    in_format_ = x.format();
    in_shape_ = x.shape();
    seen_input_ = true;
    if (x.format() == format_) return x;
    convert(x, x.format(), format_, y_);
    return y_;
  }
  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    check(seen_input_, "ToMemoryFormat::backward called before forward");
    if (in_format_ == format_) {
      check_shape(dy.shape(), in_shape_, "ToMemoryFormat::backward: dy");
      return dy;
    }
    check_shape(dy.shape(), y_.shape(), "ToMemoryFormat::backward: dy");
    convert(dy, format_, in_format_, dx_);  // dy is laid out as the output, whatever its tag says
    return dx_;
  }

  memory_format format() const { return format_; }

 private:
  // out = in (laid out in format `from`) in format `to`.
  static void convert(const tensor<T, B>& in, memory_format from, memory_format to, tensor<T, B>& out) {
    const bool last = from == memory_format::channels_last;
    const std::int64_t n = in.dim(0), c = in.dim(last ? 3 : 1), h = in.dim(last ? 1 : 2), w = in.dim(last ? 2 : 3);
    out.resize(activation_shape(n, c, h, w, to));
    out.set_format(to);
    ops::to_memory_format<B>(n, c, h * w, from, to, in.data(), out.data());
  }

  memory_format format_;
  // The last input's layout and shape (kept by value: backward needs nothing else of it).
  memory_format in_format_ = memory_format::channels_first;
  vae::shape in_shape_;
  bool seen_input_ = false;
  tensor<T, B> y_, dx_;
};

}  // namespace vae
