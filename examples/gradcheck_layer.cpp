// Checking your own layer's hand-written backward with vae::testing: FeatureScale (y = x·exp(s) + b per feature,
// parameters "log_scale" and "bias") passes check_layer_gradients in double precision, and a copy with a
// deliberate chain-rule slip (d/ds missing its factor exp(s)) is caught. Exits 1 if either outcome differs.
#include <cmath>
#include <cstdio>
#include <string>
#include <vae/testing/gradcheck.hpp>
#include <vae/vae.hpp>

template <class T = double, bool Buggy = false>
class FeatureScale {
 public:
  using value_type = T;
  using backend = vae::cpu;
  explicit FeatureScale(std::int64_t features) {
    log_scale_.shape = {features};
    log_scale_.init = vae::parameter_init::uniform(-0.5, 0.5);
    bias_.shape = {features};
    bias_.init = vae::parameter_init::uniform(-0.5, 0.5);
  }
  template <class V>
  void visit_parameters(const std::string& prefix, V&& visit) {
    visit(prefix + "log_scale", log_scale_);
    visit(prefix + "bias", bias_);
  }
  // x [N, D] → y [N, D]
  const vae::tensor<T>& forward(const vae::tensor<T>& x) {
    vae::check(x.rank() == 2 && x.dim(1) == log_scale_.shape[0], [&] {
      return vae::cat("FeatureScale::forward: expected [N, ", log_scale_.shape[0], "], got ", x.shape());
    });
    x_ = &x;
    y_.resize(x.shape());
    const std::int64_t d = x.dim(1);
    for (std::int64_t i = 0; i < x.numel(); ++i) y_[i] = x[i] * std::exp(log_scale_.value[i % d]) + bias_.value[i % d];
    return y_;
  }
  // The Layer contract: ADD into parameter gradients, WRITE dx.
  const vae::tensor<T>& backward(const vae::tensor<T>& dy) {
    const auto& x = *x_;
    const std::int64_t d = x.dim(1);
    dx_.resize(x.shape());
    T* gs = log_scale_.grad_to_add();
    T* gb = bias_.grad_to_add();
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      const T e = std::exp(log_scale_.value[i % d]);
      dx_[i] = dy[i] * e;
      gs[i % d] += Buggy ? dy[i] * x[i] : dy[i] * x[i] * e;  // the bug: ∂y/∂s = x·exp(s), not x
      gb[i % d] += dy[i];
    }
    return dx_;
  }

 private:
  vae::parameter<T> log_scale_, bias_;
  const vae::tensor<T>* x_ = nullptr;
  vae::tensor<T> y_, dx_;
};

// Attaches the layer to a double-precision store and compares its dx and parameter gradients with central
// finite differences of loss = Σ y ⊙ r (r fixed and random).
template <class L>
vae::testing::gradcheck_report check(L layer) {
  vae::generator rng(3);
  vae::parameter_store<double> store;
  store.attach(layer, rng, "scale.");
  vae::tensor<double> x(vae::shape{4, 6});
  rng.fill_normal(x.data(), x.numel(), 0.0, 1.0);
  return vae::testing::check_layer_gradients(layer, store, x);
}

int main() {
  const auto good = check(FeatureScale<double>(6));
  std::printf("FeatureScale:        %s\n", good.summary().c_str());
  const auto bad = check(FeatureScale<double, /*Buggy=*/true>(6));
  std::printf("FeatureScale (bug):  %s\n", bad.summary().c_str());
  if (!good.ok || bad.ok) {
    std::puts("unexpected: the correct layer must pass and the buggy one must fail");
    return 1;
  }
  std::puts("the correct backward passes; the buggy one is caught");
}
