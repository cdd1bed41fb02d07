// conv_output / conv_input_grad: what a convolution call computes besides its product and bias (fused epilogues).
#pragma once

namespace vae {

// What a convolution's forward writes: y = conv(x) + bias, then ReLU (relu), or residual + that (residual, laid out
// as y); not both. The cpu kernels apply them in the pass that writes y; other backends may apply them after the
// product. Either way the values are those of the separate layers (a ReLU after the conv, the skip connection's
// addition), bit for bit on the cpu. R is the element type at the op level (residual points at the data) and the
// tensor type at the layer level.
template <class R>
struct conv_output {
  bool relu = false;
  const R* residual = nullptr;
};

// What a convolution's backward writes as dx: the input gradient, times relu'(x) when the input x is a ReLU's output
// (relu_input: then dx is the gradient with respect to that ReLU's input, x > 0 exactly where the ReLU's input was
// positive), plus residual (laid out as x) when given. Fused on the cpu, applied after the product elsewhere.
template <class R>
struct conv_input_grad {
  bool relu_input = false;
  const R* residual = nullptr;
};

}  // namespace vae
