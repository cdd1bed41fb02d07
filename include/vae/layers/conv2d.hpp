// Conv2d layer (PyTorch nn.Conv2d): weight [out, in/groups, k, k], bias [out]; stride, padding, dilation, groups.
#pragma once
#include <cstdint>

#include "vae/core/op_scratch.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/layers/conv_layer.hpp"
#include "vae/ops/conv2d.hpp"

namespace vae {

// forward(x [, epilogue]) / backward(dy [, input-gradient fusion]) / visit_parameters as detail::conv_layer; the
// activations are NCHW unless the input says channels-last (tensor::format()).
template <class T = float, class B = cpu>
class Conv2d : public detail::conv_layer<Conv2d<T, B>, conv2d_dims, T, B> {
  using base = detail::conv_layer<Conv2d<T, B>, conv2d_dims, T, B>;
  friend base;

 public:
  // Square kernel/stride/padding/dilation as in nn.Conv2d(in, out, kernel_size, stride, padding, dilation, groups, bias).
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_size, std::int64_t stride = 1,
         std::int64_t padding = 0, std::int64_t dilation = 1, std::int64_t groups = 1, bool bias = true)
      : base((check_sizes(in_channels, out_channels, kernel_size, stride, padding, dilation, groups), in_channels),
             out_channels, bias, {out_channels, in_channels / groups, kernel_size, kernel_size},
             in_channels / groups * kernel_size * kernel_size),
        k_(kernel_size), stride_(stride), pad_(padding), dil_(dilation), groups_(groups) {}

  // The output of the last forward (as forward returned it).
  const tensor<T, B>& output() const { return this->y_; }
  // dw = ∂(Σ dy ⊙ y)/∂weight at the last forward, WRITTEN into dw (resized to the weight's shape); the parameter
  // gradients are left alone. How one layer's gradient of several losses is read without a full backward each (the
  // adaptive GAN weight at a decoder's last layer).
  void weight_gradient(const tensor<T, B>& dy, tensor<T, B>& dw) {
    check(this->x_ != nullptr, "Conv2d::weight_gradient called before forward");
    check_shape(dy.shape(), this->y_.shape(), "Conv2d::weight_gradient: dy");
    dw.resize(this->weight_.shape);
    dw.zero();
    const memory_format f = this->x_->format();
    T* scratch = op_scratch<T, B>(ops::conv2d_scratch_size<B>(this->d_, f));
    ops::conv2d_backward<B>(this->d_, this->x_->data(), this->weight_.value, dy.data(), static_cast<T*>(nullptr),
                            dw.data(), static_cast<T*>(nullptr), scratch, f);
  }

 private:
  static constexpr const char* name = "Conv2d";
  static constexpr const char* forward_name = "Conv2d::forward";
  static constexpr const char* backward_name = "Conv2d::backward";

  static void check_sizes(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride, std::int64_t pad,
                          std::int64_t dil, std::int64_t groups) {
    check(in > 0 && out > 0 && k > 0 && stride > 0 && pad >= 0 && dil > 0 && groups > 0, [&] {
      return cat("Conv2d: expected positive sizes (padding ≥ 0), got in=", in, " out=", out, " kernel=", k,
                 " stride=", stride, " padding=", pad, " dilation=", dil, " groups=", groups);
    });
    check(in % groups == 0 && out % groups == 0, [&] {
      return cat("Conv2d: in_channels and out_channels must be divisible by groups, got in=", in, " out=", out,
                 " groups=", groups);
    });
  }
  conv2d_dims dims(std::int64_t n, std::int64_t h, std::int64_t w) const {
    conv2d_dims d{n, this->in_, h, w, this->out_, k_, k_};
    d.stride_h = d.stride_w = stride_;
    d.pad_h = d.pad_w = pad_;
    d.dil_h = d.dil_w = dil_;
    d.groups = groups_;
    return d.finish();
  }
  std::string too_small(const tensor<T, B>& x) const {
    return cat("Conv2d::forward: input ", x.shape(), " is too small for kernel ", k_, " (dilation ", dil_, ", padding ",
               pad_, ")");
  }
  static std::int64_t scratch_size(const conv2d_dims& d, memory_format f) { return ops::conv2d_scratch_size<B>(d, f); }
  static void run_forward(const conv2d_dims& d, const T* x, const T* w, const T* bias, T* y, T* scratch,
                          memory_format f, conv_output<T> out) {
    ops::conv2d_forward<B>(d, x, w, bias, y, scratch, f, out);
  }
  static void run_backward(const conv2d_dims& d, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, T* scratch,
                           memory_format f, conv_input_grad<T> in) {
    ops::conv2d_backward<B>(d, x, w, dy, dx, dw, db, scratch, f, in);
  }

  std::int64_t k_, stride_, pad_, dil_, groups_;
};

}  // namespace vae
