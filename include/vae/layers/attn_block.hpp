// AttnBlock: taming-transformers' single-head spatial self-attention, y = x + proj_out(v · softmax(qᵀk / √C)ᵀ) with
// q, k, v 1×1 convolutions of GroupNorm(x), the softmax over the H·W key positions of each query position.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>

#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/layers/conv2d.hpp"
#include "vae/layers/group_norm.hpp"
#include "vae/ops/add.hpp"
#include "vae/ops/batched_matmul.hpp"
#include "vae/ops/softmax.hpp"

namespace vae {

// Names as taming's AttnBlock: "norm.weight/bias", "q.*", "k.*", "v.*", "proj_out.*" (each conv [C, C, 1, 1] + bias).
// GroupNorm has 32 groups and eps 1e-6 as taming's Normalize; norm_groups only exists so that tests can use a
// handful of channels.
template <class T = float, class B = cpu>
class AttnBlock {
 public:
  using value_type = T;
  using backend = B;

  explicit AttnBlock(std::int64_t channels, std::int64_t norm_groups = 32)
      : c_(channels),
        norm_(norm_groups, channels, 1e-6),
        q_(channels, channels, 1),
        k_(channels, channels, 1),
        v_(channels, channels, 1),
        proj_out_(channels, channels, 1) {}

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    norm_.visit_parameters(prefix + "norm.", visit);
    q_.visit_parameters(prefix + "q.", visit);
    k_.visit_parameters(prefix + "k.", visit);
    v_.visit_parameters(prefix + "v.", visit);
    proj_out_.visit_parameters(prefix + "proj_out.", visit);
  }

  // x: [N, C, H, W] → same shape. Keeps the attention matrix [N, H·W, H·W] for backward.
  const tensor<T, B>& forward(const tensor<T, B>& x) {
    check(x.rank() == 4 && x.dim(1) == c_,
          [&] { return cat("AttnBlock::forward: expected input [N, ", c_, ", H, W], got ", x.shape()); });
    const std::int64_t n = x.dim(0), hw = x.dim(2) * x.dim(3);
    const auto& h = norm_.forward(x);
    const auto& q = q_.forward(h);
    const auto& k = k_.forward(h);
    const auto& v = v_.forward(h);
    attn_.resize({n, hw, hw});
    // scores[i, j] = Σ_c q[c, i] k[c, j] / √C, then a softmax over the keys j.
    ops::batched_matmul<B>(batched_matmul_dims{n, hw, hw, c_, true, false}, scale(), q.data(), k.data(), T(0),
                           attn_.data());
    ops::softmax_forward<B>(softmax_dims{n * hw, hw}, attn_.data(), attn_.data());
    // out[c, i] = Σ_j v[c, j] attn[i, j]
    out_.resize(x.shape());
    ops::batched_matmul<B>(batched_matmul_dims{n, c_, hw, hw, false, true}, T(1), v.data(), attn_.data(), T(0),
                           out_.data());
    const auto& p = proj_out_.forward(out_);
    y_.resize(x.shape());
    ops::add<B>(x.numel(), x.data(), p.data(), y_.data());
    x_ = &x;
    return y_;
  }

  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    check(x_ != nullptr, "AttnBlock::backward called before forward");
    check_shape(dy.shape(), y_.shape(), "AttnBlock::backward: dy");
    const std::int64_t n = dy.dim(0), hw = dy.dim(2) * dy.dim(3);
    const auto& d_out = proj_out_.backward(dy);
    const T* q = q_.output().data();
    const T* k = k_.output().data();
    const T* v = v_.output().data();
    dv_.resize(dy.shape());
    // dv[c, j] = Σ_i dout[c, i] attn[i, j];  dattn[i, j] = Σ_c dout[c, i] v[c, j]
    ops::batched_matmul<B>(batched_matmul_dims{n, c_, hw, hw, false, false}, T(1), d_out.data(), attn_.data(), T(0),
                           dv_.data());
    dscores_.resize({n, hw, hw});
    ops::batched_matmul<B>(batched_matmul_dims{n, hw, hw, c_, true, false}, T(1), d_out.data(), v, T(0),
                           dscores_.data());
    ops::softmax_backward<B>(softmax_dims{n * hw, hw}, attn_.data(), dscores_.data(), dscores_.data());
    // dq[c, i] = Σ_j k[c, j] ds[i, j] / √C;  dk[c, j] = Σ_i q[c, i] ds[i, j] / √C
    dq_.resize(dy.shape());
    dk_.resize(dy.shape());
    ops::batched_matmul<B>(batched_matmul_dims{n, c_, hw, hw, false, true}, scale(), k, dscores_.data(), T(0),
                           dq_.data());
    ops::batched_matmul<B>(batched_matmul_dims{n, c_, hw, hw, false, false}, scale(), q, dscores_.data(), T(0),
                           dk_.data());
    // The three 1×1 convolutions read the same normalised input: their input gradients add up.
    dh_.resize(dy.shape());
    const std::int64_t count = dy.numel();
    ops::add<B>(count, q_.backward(dq_).data(), k_.backward(dk_).data(), dh_.data());
    ops::add<B>(count, dh_.data(), v_.backward(dv_).data(), dh_.data());
    const auto& dxn = norm_.backward(dh_);
    dx_.resize(dy.shape());
    ops::add<B>(count, dy.data(), dxn.data(), dx_.data());
    return dx_;
  }

  std::int64_t channels() const { return c_; }
  // The softmax of the last forward, [N, H·W (queries), H·W (keys)].
  const tensor<T, B>& attention() const { return attn_; }

 private:
  T scale() const { return static_cast<T>(1.0 / std::sqrt(static_cast<double>(c_))); }

  std::int64_t c_;
  GroupNorm<T, B> norm_;
  Conv2d<T, B> q_, k_, v_, proj_out_;
  const tensor<T, B>* x_ = nullptr;
  tensor<T, B> attn_, out_, y_, dv_, dscores_, dq_, dk_, dh_, dx_;
};

}  // namespace vae
