// BatchNorm2d layer (PyTorch nn.BatchNorm2d): batch statistics in training, running statistics in eval.
#pragma once
#include <cstdint>
#include <string>

#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/ops/batch_norm.hpp"

namespace vae {

// Parameters "weight", "bias" [C] (trainable, init 1 and 0); buffers (trainable=false) "running_mean" [C]
// (init 0), "running_var" [C] (init 1) and "num_batches_tracked" [] — PyTorch stores the last as int64; here it
// is a T buffer holding the count (exact up to 2²⁴ steps in float), converted when moving checkpoints.
// Training (the default, as a fresh nn.Module): normalises by the batch mean and biased variance and updates
// running = (1 − momentum)·running + momentum·batch_stat with the UNBIASED variance, and counts the batch.
// Eval (set_training(false)): normalises by the running statistics, which the backward treats as constants.
// PyTorch's momentum=None (cumulative average) and track_running_stats=false are not supported.
template <class T = float, class B = cpu>
class BatchNorm2d {
 public:
  using value_type = T;
  using backend = B;

  explicit BatchNorm2d(std::int64_t num_features, double eps = 1e-5, double momentum = 0.1, bool affine = true)
      : channels_(num_features), eps_(eps), momentum_(momentum), affine_(affine) {
    check(num_features > 0, [&] { return cat("BatchNorm2d: num_features must be positive, got ", num_features); });
    check(eps >= 0, [&] { return cat("BatchNorm2d: eps must be non-negative, got ", eps); });
    check(momentum >= 0 && momentum <= 1,
          [&] { return cat("BatchNorm2d: momentum must be in [0, 1], got ", momentum); });
    weight_.shape = {channels_};
    weight_.init = parameter_init::constant(1.0);
    bias_.shape = {channels_};
    bias_.init = parameter_init::constant(0.0);
    running_mean_.shape = {channels_};
    running_mean_.init = parameter_init::constant(0.0);
    running_mean_.trainable = false;
    running_var_.shape = {channels_};
    running_var_.init = parameter_init::constant(1.0);
    running_var_.trainable = false;
    num_batches_tracked_.shape = {};
    num_batches_tracked_.init = parameter_init::constant(0.0);
    num_batches_tracked_.trainable = false;
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    if (affine_) {
      visit(prefix + "weight", weight_);
      visit(prefix + "bias", bias_);
    }
    visit(prefix + "running_mean", running_mean_);
    visit(prefix + "running_var", running_var_);
    visit(prefix + "num_batches_tracked", num_batches_tracked_);
  }

  void set_training(bool training) { training_ = training; }
  bool training() const { return training_; }

  // x: [N, C, H, W] → y: same shape.
  const tensor<T, B>& forward(const tensor<T, B>& x) {
    check(running_mean_.bound(), "BatchNorm2d::forward: parameters are not attached to a parameter_store");
    check(x.rank() == 4 && x.dim(1) == channels_,
          [&] { return cat("BatchNorm2d::forward: expected input [N, ", channels_, ", H, W], got ", x.shape()); });
    const auto d = dims(x);
    check(!training_ || d.batch * d.spatial > 1, [&] {
      return cat("BatchNorm2d::forward: training needs more than 1 value per channel, got input ", x.shape());
    });
    x_ = &x;
    forward_training_ = training_;
    y_.resize(x.shape());
    mean_.resize({channels_});
    rstd_.resize({channels_});
    const T* w = affine_ ? weight_.value : nullptr;
    const T* b = affine_ ? bias_.value : nullptr;
    if (training_) {
      ops::batch_norm_forward_train<B>(d, eps_, momentum_, x.data(), w, b, y_.data(), mean_.data(), rstd_.data(),
                                       running_mean_.value, running_var_.value);
      count_batch();
    } else {
      ops::batch_norm_forward_eval<B>(d, eps_, x.data(), w, b, running_mean_.value, running_var_.value, y_.data(),
                                      mean_.data(), rstd_.data());
    }
    return y_;
  }

  // Differentiates the mode the last forward ran in.
  const tensor<T, B>& backward(const tensor<T, B>& dy) {
    check(x_ != nullptr, "BatchNorm2d::backward called before forward");
    check_shape(dy.shape(), y_.shape(), "BatchNorm2d::backward: dy");
    dx_.resize(x_->shape());
    ops::batch_norm_backward<B>(dims(*x_), forward_training_, x_->data(), affine_ ? weight_.value : nullptr,
                                mean_.data(), rstd_.data(), dy.data(), dx_.data(), affine_ ? weight_.grad_to_add() : nullptr,
                                affine_ ? bias_.grad_to_add() : nullptr);
    return dx_;
  }

  std::int64_t num_features() const { return channels_; }
  double eps() const { return eps_; }
  double momentum() const { return momentum_; }
  bool affine() const { return affine_; }
  parameter<T>& weight() { return weight_; }
  parameter<T>& bias() { return bias_; }
  parameter<T>& running_mean() { return running_mean_; }
  parameter<T>& running_var() { return running_var_; }
  parameter<T>& num_batches_tracked() { return num_batches_tracked_; }

 private:
  batch_norm_dims dims(const tensor<T, B>& x) const { return {x.dim(0), channels_, x.dim(2) * x.dim(3)}; }

  // num_batches_tracked += 1 (one scalar in backend memory: staged through the host).
  void count_batch() {
    T n;
    B::copy_to_host(&n, num_batches_tracked_.value, 1);
    n += T(1);
    B::copy_from_host(num_batches_tracked_.value, &n, 1);
  }

  std::int64_t channels_;
  double eps_, momentum_;
  bool affine_;
  bool training_ = true;
  bool forward_training_ = true;
  parameter<T> weight_, bias_, running_mean_, running_var_, num_batches_tracked_;
  const tensor<T, B>* x_ = nullptr;
  tensor<T, B> y_, dx_, mean_, rstd_;
};

}  // namespace vae
