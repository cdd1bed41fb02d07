// Adam and AdamW (torch.optim.Adam / AdamW): one fused pass over the flat trainable buffer, bias-corrected, optional AMSGrad.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "vae/core/error.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/ops/adam_step.hpp"
#include "vae/train/optimizer.hpp"

namespace vae {

// Hyper-parameters, named as in torch.optim.Adam. weight_decay is an L2 term added to the gradient.
struct adam_options {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool amsgrad = false;
};

// Hyper-parameters of torch.optim.AdamW: weight_decay is decoupled (p ← p·(1 − lr·wd)) and defaults to 0.01.
struct adamw_options {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
  bool amsgrad = false;
};

namespace detail {

// The shared body of Adam and AdamW; they differ only in how weight decay enters.
template <class T, class B>
class adam_base {
 public:
  using value_type = T;
  using backend = B;

  // One step t ← t + 1 over [0, store.trainable_size()).
  void step(parameter_store<T, B>& store) {
    prepare(store);
    const std::int64_t n = store.trainable_size();
    ++step_;
    const double t = static_cast<double>(step_);
    const double bc1 = 1.0 - std::pow(beta1_, t), bc2 = 1.0 - std::pow(beta2_, t);
    adam_step_args<T> a;
    a.n = n;
    a.param = store.values();
    a.grad = store.grads();
    a.exp_avg = exp_avg_.data();
    a.exp_avg_sq = exp_avg_sq_.data();
    a.max_exp_avg_sq = amsgrad_ ? max_exp_avg_sq_.data() : nullptr;
    a.beta1 = static_cast<T>(beta1_);
    a.beta2 = static_cast<T>(beta2_);
    a.eps = static_cast<T>(eps_);
    a.one_minus_beta1 = static_cast<T>(1.0 - beta1_);
    a.one_minus_beta2 = static_cast<T>(1.0 - beta2_);
    a.l2 = decoupled_ ? T(0) : static_cast<T>(weight_decay_);
    a.decay_factor = decoupled_ ? static_cast<T>(1.0 - lr_ * weight_decay_) : T(1);
    a.step_size = static_cast<T>(lr_ / bc1);
    a.bias_correction2_sqrt = static_cast<T>(std::sqrt(bc2));
    if (n == 0) return;
    ops::adam_step<B>(a);
  }

  // step(), then the gradients read as zero for the next accumulation: they are unset (parameter_store::unset_grads),
  // which on the host clears nothing: each layer's first gradient write of the next step overwrites, so no pass writes
  // zeros over the gradient buffer (a third of the optimizer's memory traffic) and the weight-gradient products need
  // not read it.
  void step_and_zero_grad(parameter_store<T, B>& store) {
    step(store);
    store.unset_grads();
  }

  // Sizes the moment buffers to the store (zeroed) if they are not yet; checks them against it otherwise.
  void prepare(const parameter_store<T, B>& store) {
    const std::int64_t n = store.trainable_size();
    prepare_state(exp_avg_, n, name_, "exp_avg");
    prepare_state(exp_avg_sq_, n, name_, "exp_avg_sq");
    if (amsgrad_) prepare_state(max_exp_avg_sq_, n, name_, "max_exp_avg_sq");
  }

  double lr() const { return lr_; }
  void set_lr(double lr) {
    check(lr >= 0, [&] { return cat(name_, ": learning rate must be >= 0, got ", lr); });
    lr_ = lr;
  }
  double beta1() const { return beta1_; }
  double beta2() const { return beta2_; }
  double eps() const { return eps_; }
  double weight_decay() const { return weight_decay_; }
  bool amsgrad() const { return amsgrad_; }

  // Steps taken so far (PyTorch's state["step"]); the next step uses bias corrections for step_count() + 1.
  std::int64_t step_count() const { return step_; }
  void set_step_count(std::int64_t n) {
    check(n >= 0, [&] { return cat(name_, ": step count must be >= 0, got ", n); });
    step_ = n;
  }

  // The state tensors by checkpoint name: "optimizer.exp_avg", "optimizer.exp_avg_sq" and, with AMSGrad,
  // "optimizer.max_exp_avg_sq"; each [store.trainable_size()] (after prepare or the first step).
  template <class Visitor>
  void visit_state(Visitor&& visit) {
    visit(std::string("optimizer.exp_avg"), exp_avg_);
    visit(std::string("optimizer.exp_avg_sq"), exp_avg_sq_);
    if (amsgrad_) visit(std::string("optimizer.max_exp_avg_sq"), max_exp_avg_sq_);
  }

 protected:
  template <class Options>
  adam_base(const Options& o, bool decoupled, const char* name)
      : lr_(o.lr), beta1_(o.beta1), beta2_(o.beta2), eps_(o.eps), weight_decay_(o.weight_decay),
        amsgrad_(o.amsgrad), decoupled_(decoupled), name_(name) {
    check(o.lr >= 0, [&] { return cat(name, ": lr must be >= 0, got ", o.lr); });
    check(o.eps >= 0, [&] { return cat(name, ": eps must be >= 0, got ", o.eps); });
    check(o.beta1 >= 0 && o.beta1 < 1, [&] { return cat(name, ": beta1 must be in [0, 1), got ", o.beta1); });
    check(o.beta2 >= 0 && o.beta2 < 1, [&] { return cat(name, ": beta2 must be in [0, 1), got ", o.beta2); });
    check(o.weight_decay >= 0, [&] { return cat(name, ": weight_decay must be >= 0, got ", o.weight_decay); });
  }

 private:
  double lr_, beta1_, beta2_, eps_, weight_decay_;
  bool amsgrad_, decoupled_;
  const char* name_;
  std::int64_t step_ = 0;
  tensor<T, B> exp_avg_, exp_avg_sq_, max_exp_avg_sq_;
};

}  // namespace detail

// torch.optim.Adam: L2 weight decay added to the gradient. Adam<float> opt({.lr = 1e-2}); opt.step(store);
template <class T = float, class B = cpu>
class Adam : public detail::adam_base<T, B> {
 public:
  explicit Adam(const adam_options& options = {}) : detail::adam_base<T, B>(options, false, "Adam") {}
};

// torch.optim.AdamW: decoupled weight decay (default 0.01). AdamW<float> opt({.lr = 1e-3, .weight_decay = 0.1});
template <class T = float, class B = cpu>
class AdamW : public detail::adam_base<T, B> {
 public:
  explicit AdamW(const adamw_options& options = {}) : detail::adam_base<T, B>(options, true, "AdamW") {}
};

}  // namespace vae
