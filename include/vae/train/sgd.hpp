// SGD with momentum, dampening, Nesterov and L2 weight decay (torch.optim.SGD): one fused pass over the trainable buffer.
#pragma once
#include <cstdint>
#include <string>

#include "vae/core/error.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/ops/sgd_step.hpp"
#include "vae/train/optimizer.hpp"

namespace vae {

// Hyper-parameters, named as in torch.optim.SGD.
struct sgd_options {
  double lr = 1e-3;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

// torch.optim.SGD. SGD<float> opt({.lr = 0.05, .momentum = 0.9, .nesterov = true}); opt.step(store);
template <class T = float, class B = cpu>
class SGD {
 public:
  using value_type = T;
  using backend = B;

  explicit SGD(const sgd_options& o = {})
      : lr_(o.lr), momentum_(o.momentum), dampening_(o.dampening), weight_decay_(o.weight_decay),
        nesterov_(o.nesterov) {
    check(o.lr >= 0, [&] { return cat("SGD: lr must be >= 0, got ", o.lr); });
    check(o.momentum >= 0, [&] { return cat("SGD: momentum must be >= 0, got ", o.momentum); });
    check(o.weight_decay >= 0, [&] { return cat("SGD: weight_decay must be >= 0, got ", o.weight_decay); });
    check(!o.nesterov || (o.momentum > 0 && o.dampening == 0), [&] {
      return cat("SGD: Nesterov momentum requires momentum > 0 and dampening = 0, got momentum ", o.momentum,
                 ", dampening ", o.dampening);
    });
  }

  // One step over [0, store.trainable_size()).
  void step(parameter_store<T, B>& store) {
    prepare(store);
    sgd_step_args<T> a;
    a.n = store.trainable_size();
    a.param = store.values();
    a.grad = store.grads();
    a.momentum_buffer = momentum_ != 0 ? momentum_buffer_.data() : nullptr;
    a.first_step = step_ == 0;
    a.nesterov = nesterov_;
    a.lr = static_cast<T>(lr_);
    a.momentum = static_cast<T>(momentum_);
    a.dampening = static_cast<T>(dampening_);
    a.weight_decay = static_cast<T>(weight_decay_);
    a.one_minus_dampening = static_cast<T>(1.0 - dampening_);
    ++step_;
    if (a.n == 0) return;
    ops::sgd_step<B>(a);
  }

  // Sizes the momentum buffer to the store (when momentum ≠ 0) if it is not yet; checks it otherwise.
  void prepare(const parameter_store<T, B>& store) {
    if (momentum_ != 0) detail::prepare_state(momentum_buffer_, store.trainable_size(), "SGD", "momentum_buffer");
  }

  double lr() const { return lr_; }
  void set_lr(double lr) {
    check(lr >= 0, [&] { return cat("SGD: learning rate must be >= 0, got ", lr); });
    lr_ = lr;
  }
  double momentum() const { return momentum_; }
  double dampening() const { return dampening_; }
  double weight_decay() const { return weight_decay_; }
  bool nesterov() const { return nesterov_; }

  // Steps taken so far; at 0 the next step initialises the momentum buffer to the gradient (as PyTorch does).
  std::int64_t step_count() const { return step_; }
  void set_step_count(std::int64_t n) {
    check(n >= 0, [&] { return cat("SGD: step count must be >= 0, got ", n); });
    step_ = n;
  }

  // "optimizer.momentum_buffer" [store.trainable_size()] when momentum ≠ 0; nothing otherwise.
  template <class Visitor>
  void visit_state(Visitor&& visit) {
    if (momentum_ != 0) visit(std::string("optimizer.momentum_buffer"), momentum_buffer_);
  }

 private:
  double lr_, momentum_, dampening_, weight_decay_;
  bool nesterov_;
  std::int64_t step_ = 0;
  tensor<T, B> momentum_buffer_;
};

}  // namespace vae
