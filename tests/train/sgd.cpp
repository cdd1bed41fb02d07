// SGD: PyTorch parity on a small MLP (Nesterov; dampening), hand-computed steps, state hooks, errors.
#include "vae/train/sgd.hpp"

#include "optim_fixture.hpp"

using namespace vae;

TEST_CASE_TEMPLATE("SGD (momentum 0.9, Nesterov, wd 1e-3) matches torch.optim.SGD over 10 steps", T, float, double) {
  const auto f = test::golden("optim");
  test::optim_mlp<T> m(f);
  SGD<T> opt({.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3, .nesterov = true});
  m.train_and_compare(opt, f, "sgd", test::parity_atol<T>, test::parity_rtol<T>);
}

TEST_CASE_TEMPLATE("SGD (momentum 0.9, dampening 0.5, wd 1e-3) matches torch.optim.SGD over 10 steps", T, float,
                   double) {
  const auto f = test::golden("optim");
  test::optim_mlp<T> m(f);
  SGD<T> opt({.lr = 0.05, .momentum = 0.9, .dampening = 0.5, .weight_decay = 1e-3});
  m.train_and_compare(opt, f, "sgd_damp", test::parity_atol<T>, test::parity_rtol<T>);
}


TEST_CASE("SGD on one element: hand-computed steps") {
  SUBCASE("plain, weight decay 0.1: g = 0.5 + 0.1·1 = 0.6, p = 1 − 0.1·0.6") {
    test::one_element s;
    SGD<double> opt({.lr = 0.1, .weight_decay = 0.1});
    s.g() = 0.5;
    opt.step(s.store);
    CHECK(s.p() == doctest::Approx(0.94).epsilon(1e-15));
    std::size_t visited = 0;
    opt.visit_state([&](const std::string&, tensor<double>&) { ++visited; });
    CHECK(visited == 0);  // no momentum, no state
  }
  SUBCASE("Nesterov, momentum 0.9") {
    test::one_element s;
    SGD<double> opt({.lr = 0.1, .momentum = 0.9, .nesterov = true});
    s.g() = 0.5;
    opt.step(s.store);  // b = 0.5; g = 0.5 + 0.9·0.5 = 0.95; p = 1 − 0.095
    CHECK(s.p() == doctest::Approx(0.905).epsilon(1e-15));
    opt.step(s.store);  // b = 0.45 + 0.5 = 0.95; g = 0.5 + 0.855 = 1.355; p = 0.905 − 0.1355
    CHECK(s.p() == doctest::Approx(0.7695).epsilon(1e-15));
  }
  SUBCASE("momentum 0.9 with dampening 0.5: the first step sets b = g undamped") {
    test::one_element s;
    SGD<double> opt({.lr = 0.1, .momentum = 0.9, .dampening = 0.5});
    s.g() = 0.5;
    opt.step(s.store);  // b = 0.5; p = 1 − 0.05
    CHECK(s.p() == doctest::Approx(0.95).epsilon(1e-15));
    opt.step(s.store);  // b = 0.45 + 0.5·0.5 = 0.7; p = 0.95 − 0.07
    CHECK(s.p() == doctest::Approx(0.88).epsilon(1e-15));
  }
  test::one_element s;
  SGD<double> opt({.lr = 0.1, .momentum = 0.5});
  s.g() = 1.0;
  opt.step(s.store);
  CHECK(s.store.values()[1] == 7.0);  // the buffer after the trainable range is untouched
  CHECK(s.store.values()[2] == 7.0);
  CHECK(s.g() == 1.0);
}

TEST_CASE_TEMPLATE("SGD's chunked parallel pass equals an element-by-element reference", T, float, double) {
  const std::int64_t n = 5 * (1 << 13) + 3 + (1 << 16);
  test::param_and_buffer<T> module(n, 3);
  parameter_store<T> store;
  generator rng(2);
  store.attach(module, rng);
  std::vector<T> p(store.values(), store.values() + n), b(n);
  SGD<T> opt({.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3, .nesterov = true});
  for (int t = 0; t < 3; ++t) {
    rng.fill_normal(store.grads(), n, 0.0, 1.0);
    opt.step(store);
    for (std::int64_t i = 0; i < n; ++i) {
      T g = store.grads()[i] + T(1e-3) * p[i];
      b[i] = t == 0 ? g : T(0.9) * b[i] + T(1) * g;
      g = g + T(0.9) * b[i];
      p[i] = p[i] - T(0.05) * g;
    }
  }
  for (std::int64_t i = 0; i < n; ++i) REQUIRE(store.values()[i] == p[i]);
  for (std::int64_t i = n; i < store.size(); ++i) CHECK(store.values()[i] == T(7));
}

TEST_CASE("SGD momentum state round-trips through visit_state and set_step_count") {
  const auto f = test::golden("optim");
  test::optim_mlp<double> a(f), b(f);
  SGD<double> first({.lr = 0.05, .momentum = 0.9, .nesterov = true});
  for (int s = 0; s < 3; ++s) {
    a.loss_and_grad();
    first.step(a.store);
  }
  std::copy(a.store.values(), a.store.values() + a.store.size(), b.store.values());
  std::vector<double> saved;
  first.visit_state([&](const std::string& name, tensor<double>& t) {
    CHECK(name == "optimizer.momentum_buffer");
    saved.assign(t.begin(), t.end());
  });
  REQUIRE(saved.size() == static_cast<std::size_t>(a.store.trainable_size()));
  SGD<double> resumed({.lr = 0.05, .momentum = 0.9, .nesterov = true});
  resumed.prepare(b.store);
  resumed.visit_state([&](const std::string&, tensor<double>& t) { std::copy(saved.begin(), saved.end(), t.data()); });
  resumed.set_step_count(first.step_count());
  for (int s = 0; s < 2; ++s) {
    a.loss_and_grad();
    first.step(a.store);
    b.loss_and_grad();
    resumed.step(b.store);
  }
  for (std::int64_t i = 0; i < a.store.size(); ++i) CHECK(a.store.values()[i] == b.store.values()[i]);
}

TEST_CASE("SGD satisfies the Optimizer concept and rejects PyTorch's invalid settings") {
  static_assert(Optimizer<SGD<float>, float>);
  CHECK_THROWS_WITH_AS(SGD<float>({.lr = 0.1, .nesterov = true}),
                       doctest::Contains("Nesterov momentum requires momentum > 0 and dampening = 0"), vae::error);
  CHECK_THROWS_WITH_AS(SGD<float>({.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}),
                       doctest::Contains("got momentum 0.9, dampening 0.1"), vae::error);
  CHECK_THROWS_WITH_AS(SGD<float>({.lr = -0.1}), doctest::Contains("SGD: lr must be >= 0, got -0.1"), vae::error);
  SGD<float> opt({.lr = 0.1});
  opt.set_lr(0.02);
  CHECK(opt.lr() == 0.02);
}
