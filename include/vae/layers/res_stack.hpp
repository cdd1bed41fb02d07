// ResStack: k ResBlocks then a ReLU (nothing when k = 0), the optional residual part of ConvEncoder / ConvDecoder.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "vae/core/error.hpp"
#include "vae/core/tensor.hpp"
#include "vae/layers/activations.hpp"
#include "vae/layers/res_block.hpp"

namespace vae {

struct res_stack_options {
  std::int64_t blocks = 0;  // k residual blocks; 0: the stack is the identity and has no parameters
  std::int64_t hidden = 0;  // channels between each block's 3×3 and 1×1 conv; 0: channels / 2 (at least 1)
};

// As nn.Sequential(Res_0, ..., Res_{k−1}, ReLU) with vqvae.py's Res (x + c2(relu(c1(relu(x)))), c1 3×3
// channels→hidden, c2 1×1 hidden→channels): the trailing ReLU is there because vqvae.py follows its blocks with
// one, and a block's output is not rectified. Names: "j.c1.*", "j.c2.*"; visit_parameters_from numbers the
// blocks from a given index so that a containing nn.Sequential can place them (ConvEncoder: from 4).
// Runs on every backend (ResBlock's skip addition is ops::add).
template <class T = float, class B = cpu>
class ResStack {
 public:
  using value_type = T;
  using backend = B;

  ResStack(std::int64_t channels, const res_stack_options& o, const std::string& owner = "ResStack") {
    check(o.blocks >= 0 && o.hidden >= 0, [&] {
      return cat(owner, ": the number of residual blocks and their hidden channels must be >= 0, got blocks = ",
                 o.blocks, ", hidden = ", o.hidden);
    });
    hidden_ = o.hidden > 0 ? o.hidden : std::max<std::int64_t>(1, channels / 2);
    for (std::int64_t j = 0; j < o.blocks; ++j) blocks_.emplace_back(res_block_options{channels, hidden_});
  }

  std::int64_t blocks() const { return static_cast<std::int64_t>(blocks_.size()); }
  std::int64_t hidden() const { return hidden_; }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    visit_parameters_from(prefix, 0, visit);
  }
  // Block j is named prefix + (first + j) + ".".
  template <class Visitor>
  void visit_parameters_from(const std::string& prefix, std::int64_t first, Visitor&& visit) {
    for (std::size_t j = 0; j < blocks_.size(); ++j)
      blocks_[j].visit_parameters(prefix + std::to_string(first + static_cast<std::int64_t>(j)) + ".", visit);
  }

  // x: [N, channels, H, W] → same shape; with k = 0 returns x itself.
  const tensor<T, B>& forward(const tensor<T, B>& x) {
    if (blocks_.empty()) return x;
    const tensor<T, B>* h = &x;
    for (auto& b : blocks_) h = &b.forward(*h);
    return relu_.forward(*h);
  }
  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    if (blocks_.empty()) return dy;
    const tensor<T, B>* g = &relu_.backward(dy);
    for (auto b = blocks_.rbegin(); b != blocks_.rend(); ++b) g = &b->backward(*g);
    return *g;
  }

 private:
  std::int64_t hidden_ = 1;
  std::vector<ResBlock<T, B>> blocks_;
  ReLU<T, B> relu_;
};

}  // namespace vae
