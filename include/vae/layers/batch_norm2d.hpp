// BatchNorm2d layer (PyTorch nn.BatchNorm2d): batch statistics in training, running statistics in eval.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/dist/communicator.hpp"
#include "vae/ops/batch_norm.hpp"

namespace vae {

// Parameters "weight", "bias" [C] (trainable, init 1 and 0); buffers (trainable=false) "running_mean" [C]
// (init 0), "running_var" [C] (init 1) and "num_batches_tracked" [] — PyTorch stores the last as int64; here it
// is a T buffer holding the count (exact up to 2²⁴ steps in float), converted when moving checkpoints.
// Training (the default, as a fresh nn.Module): normalises by the batch mean and biased variance and updates
// running = (1 − momentum)·running + momentum·batch_stat with the UNBIASED variance, and counts the batch.
// Eval (set_training(false)): normalises by the running statistics, which the backward treats as constants.
// PyTorch's momentum=None (cumulative average) and track_running_stats=false are not supported.
//
// Data-parallel training (SyncBatchNorm, as torch.nn.SyncBatchNorm): set_communicator(comm) with comm->size() > 1
// makes the training forward and backward act on the global batch, the union of every rank's input (ranks may hold
// different numbers of rows; the statistics count them all):
//   - forward: the per-channel Σx and count are summed over ranks (one allreduce of channels + 1 doubles), giving the
//     global mean; then Σ(x − mean)² about that mean (a second allreduce of channels doubles), giving the biased
//     variance that normalises and the unbiased one for running_var. Two passes, as the single-process kernel, so no
//     Σx² − n·mean² cancellation. Every rank gets the same sums, hence the same statistics, and updates its running
//     buffers and num_batches_tracked (once per forward) identically: they stay equal on every rank.
//   - backward: Σdy and Σdy·x̂ are summed over ranks (one allreduce of 2·channels doubles) and
//     dx = rstd·w·(dy − Σdy/N − x̂·Σdy·x̂/N) with N the global count. With dy on each rank the gradient of that
//     rank's own loss L_r, this dx is ∂(Σ_r L_r)/∂x on this rank's rows: the gradient of the SUM of the ranks'
//     losses, which is what the trainer needs, since it then AVERAGES each rank's parameter gradients over W ranks.
//     (Each rank's L_r is the mean over its B/W rows, so Σ_r L_r = W·L for the global mean loss L: dx is W times
//     one process's ∂L/∂x at global batch B, and the trainer's division by W brings every upstream parameter
//     gradient back to one process's. With sum losses dx equals one process's dx exactly.)
//   - weight/bias gradients stay local (Σ over this rank's rows of dy·x̂ and dy, with the global x̂): the trainer's
//     gradient allreduce combines them like every other parameter.
// Sums are in double; the per-channel values (a few per channel) are staged through the host for the allreduce, so
// the layer runs on any backend with a host communicator. Eval mode, a null communicator and one rank are the
// single-process layer, bit for bit. Every rank must call forward and backward in the same order (collectives), and
// none of them may run while gradient allreduces are in flight on the same communicator (dist::gradient_sync: between
// the first ready() and finish() a model makes no other collective): declare a part holding a BatchNorm2d ready only
// after its whole backward (dist::mark_gradients_ready on the part), never from inside it.
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

  // Data-parallel training over `comm` (see above); nullptr or one rank: the single-process layer. The communicator
  // must outlive the layer's use of it.
  void set_communicator(dist::collective* comm) { comm_ = comm != nullptr && comm->size() > 1 ? comm : nullptr; }

  // x: [N, C, H, W] → y: same shape.
  const tensor<T, B>& forward(const tensor<T, B>& x) {
    check(running_mean_.bound(), "BatchNorm2d::forward: parameters are not attached to a parameter_store");
    check(x.rank() == 4 && x.dim(1) == channels_,
          [&] { return cat("BatchNorm2d::forward: expected input [N, ", channels_, ", H, W], got ", x.shape()); });
    const auto d = dims(x);
    check(!training_ || comm_ != nullptr || d.batch * d.spatial > 1, [&] {
      return cat("BatchNorm2d::forward: training needs more than 1 value per channel, got input ", x.shape());
    });
    x_ = &x;
    forward_training_ = training_;
    forward_comm_ = training_ ? comm_ : nullptr;
    y_.resize(x.shape());
    mean_.resize({channels_});
    rstd_.resize({channels_});
    const T* w = affine_ ? weight_.value : nullptr;
    const T* b = affine_ ? bias_.value : nullptr;
    if (forward_comm_ != nullptr) {
      forward_global(d, w, b);
      count_batch();
    } else if (training_) {
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
    if (forward_comm_ != nullptr) {
      backward_global(dy);
      return dx_;
    }
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

  // Training forward over the global batch (comm_): the global mean from Σx and the count, then the variance from
  // Σ(x − mean)², both summed over ranks; y from them, the running statistics updated as the fused kernel does.
  void forward_global(const batch_norm_dims& d, const T* w, const T* b) {
    const std::size_t C = static_cast<std::size_t>(channels_);
    stats_.resize({2 * channels_});  // [0, C): Σx, then the mean; [C, 2C): Σ(x − mean)², then the biased variance
    host_.resize(2 * C + 1);
    ops::batch_norm_channel_sums<B>(d, x_->data(), nullptr, stats_.data(), nullptr);
    B::copy_to_host(host_.data(), stats_.data(), C);
    host_[C] = static_cast<double>(d.batch * d.spatial);
    forward_comm_->allreduce_sum(host_.data(), C + 1);
    count_ = host_[C];
    check(count_ > 1, [&] {
      return cat("BatchNorm2d::forward: training needs more than 1 value per channel over all ",
                 forward_comm_->size(), " ranks, got ", count_, " (this rank's input ", x_->shape(), ")");
    });
    for (std::size_t c = 0; c < C; ++c) host_[c] /= count_;  // the global mean, as the kernel's Σx / count
    B::copy_from_host(stats_.data(), host_.data(), C);
    ops::batch_norm_channel_sums<B>(d, x_->data(), stats_.data(), nullptr, stats_.data() + C);
    B::copy_to_host(host_.data() + C, stats_.data() + C, C);
    forward_comm_->allreduce_sum(host_.data() + C, C);
    // host_: [0, C) mean, [C, 2C) Σ(x − mean)² → the biased variance (to the device) and the running statistics.
    running_.resize(2 * C);
    B::copy_to_host(running_.data(), running_mean_.value, C);
    B::copy_to_host(running_.data() + C, running_var_.value, C);
    for (std::size_t c = 0; c < C; ++c) {
      const double m = host_[c], ss = host_[C + c];
      running_[c] = static_cast<T>((1 - momentum_) * static_cast<double>(running_[c]) + momentum_ * m);
      running_[C + c] =
          static_cast<T>((1 - momentum_) * static_cast<double>(running_[C + c]) + momentum_ * (ss / (count_ - 1)));
      host_[C + c] = ss / count_;
    }
    B::copy_from_host(running_mean_.value, running_.data(), C);
    B::copy_from_host(running_var_.value, running_.data() + C, C);
    B::copy_from_host(stats_.data() + C, host_.data() + C, C);
    ops::batch_norm_forward_with_stats<B>(d, eps_, x_->data(), w, b, stats_.data(), stats_.data() + C, y_.data(),
                                          mean_.data(), rstd_.data());
  }

  // Training backward over the global batch: Σdy and Σdy·x̂ summed over ranks, their means over the global count,
  // then dx; the parameter gradients from this rank's rows (added by the reduce).
  void backward_global(const tensor<T, B>& dy) {
    const std::size_t C = static_cast<std::size_t>(channels_);
    const auto d = dims(*x_);
    stats_.resize({2 * channels_});  // [0, C): Σdy, then its mean; [C, 2C): Σdy·x̂, then its mean
    host_.resize(2 * C + 1);
    ops::batch_norm_backward_reduce<B>(d, x_->data(), mean_.data(), rstd_.data(), dy.data(), stats_.data(),
                                       stats_.data() + C, affine_ ? weight_.grad_to_add() : nullptr,
                                       affine_ ? bias_.grad_to_add() : nullptr);
    B::copy_to_host(host_.data(), stats_.data(), 2 * C);
    forward_comm_->allreduce_sum(host_.data(), 2 * C);
    const double inv_count = 1.0 / count_;  // as the fused kernel: a product by 1/count, not a division
    for (std::size_t i = 0; i < 2 * C; ++i) host_[i] *= inv_count;
    B::copy_from_host(stats_.data(), host_.data(), 2 * C);
    ops::batch_norm_backward_elemt<B>(d, x_->data(), affine_ ? weight_.value : nullptr, mean_.data(), rstd_.data(),
                                      dy.data(), stats_.data(), stats_.data() + C, dx_.data());
  }

  std::int64_t channels_;
  double eps_, momentum_;
  bool affine_;
  bool training_ = true;
  bool forward_training_ = true;
  dist::collective* comm_ = nullptr;
  dist::collective* forward_comm_ = nullptr;  // comm_ when the last forward was a global training one
  double count_ = 0;                          // the global batch·spatial count of that forward
  parameter<T> weight_, bias_, running_mean_, running_var_, num_batches_tracked_;
  const tensor<T, B>* x_ = nullptr;
  tensor<T, B> y_, dx_, mean_, rstd_;
  tensor<double, B> stats_;   // per-channel sums and statistics in backend memory
  std::vector<double> host_;  // the same, staged on the host for the allreduce
  std::vector<T> running_;    // running_mean, running_var staged on the host
};

}  // namespace vae
