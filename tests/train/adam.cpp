// Adam / AdamW: PyTorch parity on a small MLP, the update formula on hand-computed steps, AMSGrad, state hooks, errors,
// unset gradients after step_and_zero_grad.
#include "vae/train/adam.hpp"

#include <cmath>
#include <map>

#include "optim_fixture.hpp"
#include "vae/layers/linear.hpp"

using namespace vae;

TEST_CASE_TEMPLATE("Adam matches torch.optim.Adam over 10 steps of an MLP", T, float, double) {
  const auto f = test::golden("optim");
  test::optim_mlp<T> m(f);
  Adam<T> opt({.lr = 1e-2});
  m.train_and_compare(opt, f, "adam", test::parity_atol<T>, test::parity_rtol<T>);
}

TEST_CASE_TEMPLATE("AdamW matches torch.optim.AdamW (weight_decay 0.1) over 10 steps", T, float, double) {
  const auto f = test::golden("optim");
  test::optim_mlp<T> m(f);
  AdamW<T> opt({.lr = 1e-2, .weight_decay = 0.1});
  m.train_and_compare(opt, f, "adamw", test::parity_atol<T>, test::parity_rtol<T>);
}

TEST_CASE_TEMPLATE("Adam with AMSGrad and L2 weight decay matches PyTorch over 10 steps", T, float, double) {
  const auto f = test::golden("optim");
  test::optim_mlp<T> m(f);
  Adam<T> opt({.lr = 1e-2, .weight_decay = 1e-2, .amsgrad = true});
  m.train_and_compare(opt, f, "amsgrad", test::parity_atol<T>, test::parity_rtol<T>);
}


TEST_CASE("Adam on one element: two hand-computed steps") {
  test::one_element s;
  Adam<double> opt({.lr = 0.1});
  // t=1, g=0.5: m = 0.05, v = 0.00025, m̂ = 0.05/0.1 = 0.5, v̂ = 0.00025/0.001 = 0.25 → p = 1 − 0.1·0.5/(0.5 + 1e-8)
  s.g() = 0.5;
  opt.step(s.store);
  const double p1 = 1 - 0.1 * 0.5 / (0.5 + 1e-8);
  CHECK(s.p() == doctest::Approx(p1).epsilon(1e-15));
  // t=2, g=−0.25: m = 0.045 − 0.025 = 0.02, v = 0.00024975 + 0.0000625 = 0.00031225,
  // bias corrections 1 − 0.9² = 0.19 and 1 − 0.999² = 0.001999
  s.g() = -0.25;
  opt.step(s.store);
  const double p2 = p1 - 0.1 * (0.02 / 0.19) / (std::sqrt(0.00031225 / 0.001999) + 1e-8);
  CHECK(s.p() == doctest::Approx(p2).epsilon(1e-14));
  CHECK(opt.step_count() == 2);
  // The buffer after the trainable range is never touched, and the gradient is left as it was.
  CHECK(s.store.values()[1] == 7.0);
  CHECK(s.store.values()[2] == 7.0);
  CHECK(s.g() == -0.25);
}

TEST_CASE("Adam's weight decay is L2 on the gradient, AdamW's is decoupled") {
  SUBCASE("Adam: g ← g + wd·p = 0.6, m̂/√v̂ = 1, p = 1 − 0.1") {
    test::one_element s;
    Adam<double> opt({.lr = 0.1, .eps = 0.0, .weight_decay = 0.1});
    s.g() = 0.5;
    opt.step(s.store);
    CHECK(s.p() == doctest::Approx(0.9).epsilon(1e-15));
  }
  SUBCASE("AdamW: p ← p·(1 − 0.1·0.1) = 0.99, then − 0.1") {
    test::one_element s;
    AdamW<double> opt({.lr = 0.1, .eps = 0.0, .weight_decay = 0.1});
    s.g() = 0.5;
    opt.step(s.store);
    CHECK(s.p() == doctest::Approx(0.89).epsilon(1e-15));
  }
  SUBCASE("AdamW's default weight decay is 0.01") {
    CHECK(AdamW<float>().weight_decay() == 0.01);
    CHECK(Adam<float>().weight_decay() == 0.0);
  }
}

TEST_CASE("AMSGrad divides by the running maximum of v") {
  test::one_element a, b;
  Adam<double> plain({.lr = 0.1, .beta2 = 0.5});
  Adam<double> ams({.lr = 0.1, .beta2 = 0.5, .amsgrad = true});
  a.g() = b.g() = 1.0;
  plain.step(a.store);
  ams.step(b.store);
  CHECK(a.p() == b.p());  // first step: max(0, v) = v
  a.g() = b.g() = 0.0;
  const double before = b.p();
  plain.step(a.store);
  ams.step(b.store);
  // t=2, g=0: m = 0.09, v = 0.25, v_max = max(0.5, 0.25) = 0.5; bias corrections 0.19 and 0.75
  CHECK(b.p() == doctest::Approx(before - 0.1 * (0.09 / 0.19) / (std::sqrt(0.5 / 0.75) + 1e-8)).epsilon(1e-14));
  CHECK(a.p() < b.p());  // the smaller v of plain Adam gives it the larger step
}

TEST_CASE_TEMPLATE("Adam's chunked parallel pass equals an element-by-element reference", T, float, double) {
  const std::int64_t n = 3 * (1 << 13) + 17 + (1 << 16);  // several chunks, the last one partial
  test::param_and_buffer<T> module(n, 5);
  parameter_store<T> store;
  generator rng(1);
  store.attach(module, rng);
  rng.fill_normal(store.values(), n, 0.0, 1.0);
  std::vector<T> p(store.values(), store.values() + n), m(n, T(0)), v(n, T(0));
  AdamW<T> opt({.lr = 1e-2, .weight_decay = 0.05});
  for (int t = 1; t <= 3; ++t) {
    rng.fill_normal(store.grads(), n, 0.0, 1.0);
    opt.step(store);
    const T bc1 = static_cast<T>(1 - std::pow(0.9, t)), bc2s = static_cast<T>(std::sqrt(1 - std::pow(0.999, t)));
    for (std::int64_t i = 0; i < n; ++i) {
      const T g = store.grads()[i];
      p[i] *= static_cast<T>(1 - 1e-2 * 0.05);
      m[i] = T(0.9) * m[i] + T(1 - 0.9) * g;
      v[i] = T(0.999) * v[i] + static_cast<T>(1 - 0.999) * g * g;
      p[i] -= static_cast<T>(1e-2 / bc1) * (m[i] / (std::sqrt(v[i]) / bc2s + T(1e-8)));
    }
  }
  double worst = 0;
  for (std::int64_t i = 0; i < n; ++i) worst = std::max(worst, std::abs(double(store.values()[i]) - double(p[i])));
  CHECK(worst <= (std::is_same_v<T, float> ? 1e-6 : 1e-14));
  for (std::int64_t i = n; i < store.size(); ++i) CHECK(store.values()[i] == T(7));
}

TEST_CASE("Adam state round-trips through visit_state and set_step_count") {
  const auto f = test::golden("optim");
  test::optim_mlp<double> a(f), b(f);
  Adam<double> first({.lr = 1e-2, .amsgrad = true});
  for (int s = 0; s < 3; ++s) {
    a.loss_and_grad();
    first.step(a.store);
  }
  std::copy(a.store.values(), a.store.values() + a.store.size(), b.store.values());
  // A checkpoint: the named tensors and the step count, restored into a fresh optimizer.
  std::map<std::string, std::vector<double>> saved;
  first.visit_state([&](const std::string& name, tensor<double>& t) { saved[name] = {t.begin(), t.end()}; });
  CHECK(saved.size() == 3);
  CHECK(saved.count("optimizer.exp_avg") == 1);
  CHECK(saved.count("optimizer.exp_avg_sq") == 1);
  CHECK(saved.count("optimizer.max_exp_avg_sq") == 1);
  CHECK(saved["optimizer.exp_avg"].size() == static_cast<std::size_t>(a.store.trainable_size()));
  Adam<double> resumed({.lr = 1e-2, .amsgrad = true});
  resumed.prepare(b.store);
  resumed.visit_state([&](const std::string& name, tensor<double>& t) {
    std::copy(saved[name].begin(), saved[name].end(), t.data());
  });
  resumed.set_step_count(first.step_count());
  for (int s = 0; s < 2; ++s) {
    a.loss_and_grad();
    first.step(a.store);
    b.loss_and_grad();
    resumed.step(b.store);
  }
  for (std::int64_t i = 0; i < a.store.size(); ++i) CHECK(a.store.values()[i] == b.store.values()[i]);
  CHECK(std::string(optimizer_step_name) == "optimizer.step");
}

TEST_CASE("Adam satisfies the Optimizer concept; bad settings and foreign state are clear errors") {
  static_assert(Optimizer<Adam<float>, float>);
  static_assert(Optimizer<AdamW<double>, double>);
  CHECK_THROWS_WITH_AS(Adam<float>({.beta1 = 1.0}), doctest::Contains("Adam: beta1 must be in [0, 1), got 1"),
                       vae::error);
  CHECK_THROWS_WITH_AS(AdamW<float>({.lr = -1}), doctest::Contains("AdamW: lr must be >= 0, got -1"), vae::error);
  test::one_element small;
  test::param_and_buffer<double> bigger_module(4, 1);
  parameter_store<double> bigger;
  generator rng(0);
  bigger.attach(bigger_module, rng);
  Adam<double> opt;
  opt.step(small.store);
  CHECK_THROWS_WITH_AS(opt.step(bigger), doctest::Contains("state 'exp_avg' holds 1 elements but the parameter store has 4"),
                       vae::error);
}

TEST_CASE("set_lr changes the step size of the next step") {
  test::one_element a, b;
  Adam<double> x({.lr = 0.1}), y({.lr = 0.3});
  x.set_lr(0.3);
  CHECK(x.lr() == 0.3);
  a.g() = b.g() = 0.5;
  x.step(a.store);
  y.step(b.store);
  CHECK(a.p() == b.p());
}

TEST_CASE("Adam::step_and_zero_grad equals step() then zero_grad(), bit for bit, and leaves zero gradients") {
  // 50000 elements: several optimizer chunks, so the chunked zeroing is exercised on the OpenMP pool.
  test::param_and_buffer<float> ma{50000, 2}, mb{50000, 2};
  parameter_store<float> a, b;
  generator ra(9), rb(9);
  a.attach(ma, ra);
  b.attach(mb, rb);
  Adam<float> oa({.lr = 1e-2, .weight_decay = 1e-3}), ob({.lr = 1e-2, .weight_decay = 1e-3});
  for (int step = 0; step < 3; ++step) {
    generator ga(100 + step), gb(100 + step);
    ga.fill_normal(a.grads(), a.trainable_size(), 0.0, 1.0);
    gb.fill_normal(b.grads(), b.trainable_size(), 0.0, 1.0);
    oa.step(a);
    a.zero_grad();
    ob.step_and_zero_grad(b);
  }
  std::int64_t differ = 0, nonzero = 0;
  for (std::int64_t i = 0; i < a.trainable_size(); ++i) {
    differ += a.values()[i] != b.values()[i];
    nonzero += b.grads()[i] != 0.f;
  }
  CHECK(a.trainable_size() == 50000);
  CHECK(differ == 0);
  CHECK(nonzero == 0);
  CHECK(b.values()[50000] == a.values()[50000]);  // the buffer past the trainable range is untouched
}

namespace adam_unset_test {
// Two Linear layers; the second only takes part in some steps (its gradient then stays unset until the optimizer).
struct two_linears {
  Linear<float> a{6, 5}, b{5, 3};
  template <class V>
  void visit_parameters(const std::string& prefix, V&& visit) {
    a.visit_parameters(prefix + "a.", visit);
    b.visit_parameters(prefix + "b.", visit);
  }
  // Backward of Σ c·output for fixed coefficients; `a` runs twice when `twice` (its second write must add).
  void backward_step(const tensor<float>& x, bool use_b, bool twice) {
    const auto& y = a.forward(x);
    tensor<float> dy(y.shape(), 0.25f);
    if (use_b) {
      const auto& z = b.forward(y);
      tensor<float> dz(z.shape(), -0.5f);
      dy = b.backward(dz);
    }
    a.backward(dy);
    if (twice) {
      a.forward(x);
      a.backward(dy);
    }
  }
};
}  // namespace adam_unset_test

TEST_CASE("Adam::step_and_zero_grad leaves gradients unset: the next backward overwrites, bit for bit step() + zero_grad()") {
  using adam_unset_test::two_linears;
  two_linears ma, mb;
  parameter_store<float> a, b;
  generator ra(3), rb(3), rx(4);
  a.attach(ma, ra);
  b.attach(mb, rb);
  tensor<float> x({4, 6});
  rx.fill_normal(x.data(), x.numel(), 0.0, 1.0);
  Adam<float> oa({.lr = 1e-2}), ob({.lr = 1e-2});
  bool stale_memory_seen = false;
  for (int step = 0; step < 6; ++step) {
    const bool use_b = step % 2 == 0, twice = step % 3 == 1;
    ma.backward_step(x, use_b, twice);
    mb.backward_step(x, use_b, twice);
    INFO("step " << step);
    // The same gradients: b's unset ones overwritten by their first write (or cleared by grads() when unwritten).
    std::int64_t differ = 0;
    for (std::int64_t i = 0; i < a.trainable_size(); ++i) differ += a.grads()[i] != b.grads()[i];
    CHECK(differ == 0);
    oa.step(a);
    a.zero_grad();
    ob.step_and_zero_grad(b);
    // Unset, not cleared: the layers' raw gradient memory still holds this step's values (the next backward must
    // overwrite them, not add to them).
    for (std::int64_t i = 0; i < mb.a.weight().numel(); ++i) stale_memory_seen |= mb.a.weight().grad[i] != 0.f;
  }
  CHECK(stale_memory_seen);
  // Read through the store, unset gradients are zeros.
  std::int64_t nonzero = 0;
  for (std::int64_t i = 0; i < b.trainable_size(); ++i) nonzero += b.grads()[i] != 0.f;
  CHECK(nonzero == 0);
  std::int64_t differ = 0;
  for (std::int64_t i = 0; i < a.size(); ++i) differ += a.values()[i] != b.values()[i];
  CHECK(differ == 0);
}

TEST_CASE("parameter::grad_to_add clears an unset gradient once; take_unset_grad reports it once") {
  adam_unset_test::two_linears m;
  parameter_store<float> s;
  generator r(1);
  s.attach(m, r);
  auto& w = m.a.weight();
  std::fill(w.grad, w.grad + w.numel(), 2.f);
  s.unset_grads();
  CHECK(w.grad[0] == 2.f);  // memory untouched
  CHECK(w.grad_to_add()[0] == 0.f);
  w.grad[0] = 5.f;
  CHECK(w.grad_to_add()[0] == 5.f);  // set now: no second clearing
  auto& v = m.b.weight();
  s.unset_grads();
  CHECK(v.take_unset_grad());
  CHECK_FALSE(v.take_unset_grad());
  s.zero_grad();  // clears the flags too
  CHECK_FALSE(m.b.bias().take_unset_grad());
}
