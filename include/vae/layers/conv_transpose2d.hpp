// ConvTranspose2d layer (PyTorch nn.ConvTranspose2d): weight [in, out/groups, k, k], bias [out].
#pragma once
#include <algorithm>
#include <cstdint>

#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/layers/conv_layer.hpp"
#include "vae/ops/conv_transpose2d.hpp"

namespace vae {

// forward / backward / visit_parameters as detail::conv_layer (the same epilogues and formats as Conv2d).
template <class T = float, class B = cpu>
class ConvTranspose2d : public detail::conv_layer<ConvTranspose2d<T, B>, conv_transpose2d_dims, T, B> {
  using base = detail::conv_layer<ConvTranspose2d<T, B>, conv_transpose2d_dims, T, B>;
  friend base;

 public:
  // Arguments in nn.ConvTranspose2d's order: (in, out, kernel_size, stride, padding, output_padding, groups, bias,
  // dilation); square sizes. PyTorch computes fan_in from weight.size(1)·k·k = (out/groups)·k·k here.
  ConvTranspose2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_size,
                  std::int64_t stride = 1, std::int64_t padding = 0, std::int64_t output_padding = 0,
                  std::int64_t groups = 1, bool bias = true, std::int64_t dilation = 1)
      : base((check_sizes(in_channels, out_channels, kernel_size, stride, padding, output_padding, groups, dilation),
              in_channels),
             out_channels, bias, {in_channels, out_channels / groups, kernel_size, kernel_size},
             out_channels / groups * kernel_size * kernel_size),
        k_(kernel_size), stride_(stride), pad_(padding), out_pad_(output_padding), dil_(dilation), groups_(groups) {}

 private:
  static constexpr const char* name = "ConvTranspose2d";
  static constexpr const char* forward_name = "ConvTranspose2d::forward";
  static constexpr const char* backward_name = "ConvTranspose2d::backward";

  static void check_sizes(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride, std::int64_t pad,
                          std::int64_t out_pad, std::int64_t groups, std::int64_t dil) {
    check(in > 0 && out > 0 && k > 0 && stride > 0 && pad >= 0 && dil > 0 && groups > 0 && out_pad >= 0, [&] {
      return cat("ConvTranspose2d: expected positive sizes (padding, output_padding ≥ 0), got in=", in, " out=", out,
                 " kernel=", k, " stride=", stride, " padding=", pad, " output_padding=", out_pad, " dilation=", dil,
                 " groups=", groups);
    });
    check(out_pad < std::max(stride, dil), [&] {
      return cat("ConvTranspose2d: output_padding must be smaller than stride or dilation, got output_padding=",
                 out_pad, " stride=", stride, " dilation=", dil);
    });
    check(in % groups == 0 && out % groups == 0, [&] {
      return cat("ConvTranspose2d: in_channels and out_channels must be divisible by groups, got in=", in,
                 " out=", out, " groups=", groups);
    });
  }
  conv_transpose2d_dims dims(std::int64_t n, std::int64_t h, std::int64_t w) const {
    conv_transpose2d_dims d{n, this->in_, h, w, this->out_, k_, k_};
    d.stride_h = d.stride_w = stride_;
    d.pad_h = d.pad_w = pad_;
    d.out_pad_h = d.out_pad_w = out_pad_;
    d.dil_h = d.dil_w = dil_;
    d.groups = groups_;
    return d.finish();
  }
  std::string too_small(const tensor<T, B>& x) const {
    return cat("ConvTranspose2d::forward: input ", x.shape(), " gives an empty output with padding ", pad_);
  }
  static std::int64_t scratch_size(const conv_transpose2d_dims& d, memory_format f) {
    return ops::conv_transpose2d_scratch_size<B>(d, f);
  }
  static void run_forward(const conv_transpose2d_dims& d, const T* x, const T* w, const T* bias, T* y, T* scratch,
                          memory_format f, conv_output<T> out) {
    ops::conv_transpose2d_forward<B>(d, x, w, bias, y, scratch, f, out);
  }
  static void run_backward(const conv_transpose2d_dims& d, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db,
                           T* scratch, memory_format f, conv_input_grad<T> in) {
    ops::conv_transpose2d_backward<B>(d, x, w, dy, dx, dw, db, scratch, f, in);
  }

  std::int64_t k_, stride_, pad_, out_pad_, dil_, groups_;
};

}  // namespace vae
