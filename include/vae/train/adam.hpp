// Adam and AdamW (torch.optim.Adam / AdamW): one fused pass over the flat trainable buffer, bias-corrected, optional AMSGrad.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include <Eigen/Core>

#include "vae/backend/cpu/avx512.hpp"
#include "vae/core/error.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
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

// One Adam step over n contiguous elements, the scalars that depend on the step count computed on the host in
// double. A backend without host memory implements it as kernel<adam_op, B>::step(const adam_step_args<T>&).
struct adam_op {};
template <class T>
struct adam_step_args {
  std::int64_t n = 0;
  T* param = nullptr;
  const T* grad = nullptr;
  T* exp_avg = nullptr;
  T* exp_avg_sq = nullptr;
  T* max_exp_avg_sq = nullptr;  // null unless AMSGrad
  T beta1{}, beta2{}, eps{};
  T one_minus_beta1{}, one_minus_beta2{};  // 1 − β computed in double, as PyTorch passes them
  T l2{};            // added to the gradient: g + l2·p (Adam's weight_decay; 0 for AdamW)
  T decay_factor{};  // p ← p·decay_factor before the update (1 − lr·wd for AdamW; exactly 1 for Adam)
  T step_size{};     // lr / (1 − β1ᵗ)
  T bias_correction2_sqrt{};  // √(1 − β2ᵗ)
};

namespace detail {

// PyTorch's single-tensor formula (torch/optim/adam.py), per element:
//   g ← g + l2·p              p ← p·decay_factor
//   m ← β1·m + (1 − β1)·g     v ← β2·v + (1 − β2)·g²     [v̂ ← max(v̂, v)]
//   p ← p − step_size · m / (√v / √(1 − β2ᵗ) + eps)
// With l2 = 0 and decay_factor = 1 the extra terms are exact no-ops, so there is no branch on them. Each
// chunk is three Eigen array statements over cache-resident data (one pass over memory). Eigen's packet sqrt
// vectorises where a plain loop's std::sqrt does not (errno keeps GCC from vectorising it); with Eigen's default
// EIGEN_FAST_MATH it is rsqrt + a Newton step on AVX (within 1-2 ulp, well inside the parity tolerances).
#if defined(VAE_AVX512_KERNELS)
// The float formula above over [begin, end), 16 lanes at a time. The division m / (√v·(1/√(1 − β2ᵗ)) + eps) is a
// reciprocal estimate refined by one Newton step (within 2 ulp; vdivps made the whole step compute-bound: an
// Adam-like pass over 1.09M floats took 0.53 ms with the divide, 0.44 ms without, on two Zen 4 cores).
inline void adam_chunk_avx512(const adam_step_args<float>& a, std::int64_t begin, std::int64_t end) {
  const __m512 b1 = _mm512_set1_ps(a.beta1), c1 = _mm512_set1_ps(a.one_minus_beta1);
  const __m512 b2 = _mm512_set1_ps(a.beta2), c2 = _mm512_set1_ps(a.one_minus_beta2);
  const __m512 l2 = _mm512_set1_ps(a.l2), decay = _mm512_set1_ps(a.decay_factor), step = _mm512_set1_ps(a.step_size);
  const __m512 inv_bc2 = _mm512_set1_ps(1.0f / a.bias_correction2_sqrt), eps = _mm512_set1_ps(a.eps);
  const __m512 two = _mm512_set1_ps(2.0f);
  for (std::int64_t i = begin; i < end; i += 16) {
    const __mmask16 k = cpu_detail::avx512::lanes(end - i);
    __m512 p = _mm512_maskz_loadu_ps(k, a.param + i);
    const __m512 g = _mm512_fmadd_ps(l2, p, _mm512_maskz_loadu_ps(k, a.grad + i));
    const __m512 m = _mm512_fmadd_ps(b1, _mm512_maskz_loadu_ps(k, a.exp_avg + i), _mm512_mul_ps(c1, g));
    const __m512 v = _mm512_fmadd_ps(b2, _mm512_maskz_loadu_ps(k, a.exp_avg_sq + i), _mm512_mul_ps(_mm512_mul_ps(c2, g), g));
    const __m512 d = _mm512_fmadd_ps(_mm512_sqrt_ps(v), inv_bc2, eps);
    __m512 r = _mm512_rcp14_ps(d);
    r = _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, two));
    p = _mm512_fnmadd_ps(step, _mm512_mul_ps(m, r), _mm512_mul_ps(p, decay));
    _mm512_mask_storeu_ps(a.exp_avg + i, k, m);
    _mm512_mask_storeu_ps(a.exp_avg_sq + i, k, v);
    _mm512_mask_storeu_ps(a.param + i, k, p);
  }
}
#endif

template <bool AmsGrad, class T>
void adam_update_host(const adam_step_args<T>& a) {
#if defined(VAE_AVX512_KERNELS)
  if constexpr (!AmsGrad && std::is_same_v<T, float>) {
    for_chunks(a.n, 16, [&](std::int64_t begin, std::int64_t end) { adam_chunk_avx512(a, begin, end); });
    return;
  }
#endif
  using array = Eigen::Array<T, Eigen::Dynamic, 1>;
  using map = Eigen::Map<array>;
  using const_map = Eigen::Map<const array>;
  for_chunks(a.n, 16, [&](std::int64_t begin, std::int64_t end) {
    const Eigen::Index len = end - begin;
    map p(a.param + begin, len), m(a.exp_avg + begin, len), v(a.exp_avg_sq + begin, len);
    const const_map g0(a.grad + begin, len);
    const auto g = g0 + a.l2 * p;  // an expression, evaluated inside the statements below
    m = a.beta1 * m + a.one_minus_beta1 * g;
    v = a.beta2 * v + a.one_minus_beta2 * g * g;
    if constexpr (AmsGrad) {
      map vmax(a.max_exp_avg_sq + begin, len);
      vmax = vmax.max(v);
      p = p * a.decay_factor - a.step_size * (m / (vmax.sqrt() / a.bias_correction2_sqrt + a.eps));
    } else {
      p = p * a.decay_factor - a.step_size * (m / (v.sqrt() / a.bias_correction2_sqrt + a.eps));
    }
  });
}

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
    if constexpr (host_backend<B>) {
      if (amsgrad_) adam_update_host<true>(a);
      else adam_update_host<false>(a);
    } else {
      kernel<adam_op, B>::step(a);
    }
  }

  // step(), then the gradients read as zero for the next accumulation. On the host they are unset
  // (parameter_store::unset_grads), not cleared: each layer's first gradient write of the next step overwrites, so no
  // pass writes zeros over the gradient buffer (a third of the optimizer's memory traffic) and the weight-gradient
  // products need not read it.
  void step_and_zero_grad(parameter_store<T, B>& store) {
    step(store);
    if constexpr (host_backend<B>) store.unset_grads();
    else store.zero_grad();
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
