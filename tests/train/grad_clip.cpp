// Gradient clipping: the total L2 norm over trainable gradients, exact scaling, no-op below the limit, finite check.
#include "vae/train/grad_clip.hpp"

#include <cmath>
#include <limits>

#include "optim_fixture.hpp"

using namespace vae;

TEST_CASE_TEMPLATE("clip_grad_norm scales by max_norm / (norm + 1e-6) exactly and returns the norm", T, float, double) {
  test::param_and_buffer<T> module(2, 3);
  parameter_store<T> store;
  generator rng(0);
  store.attach(module, rng);
  T* g = store.grads();
  g[0] = T(3);
  g[1] = T(4);
  for (std::int64_t i = 2; i < store.size(); ++i) g[i] = T(100);  // past the trainable range: not counted, not scaled
  CHECK(grad_norm(store) == 5.0);
  const double total = clip_grad_norm(store, 1.0);
  CHECK(total == 5.0);
  const T coef = static_cast<T>(1.0 / (5.0 + 1e-6));
  CHECK(g[0] == T(3) * coef);
  CHECK(g[1] == T(4) * coef);
  for (std::int64_t i = 2; i < store.size(); ++i) CHECK(g[i] == T(100));
  CHECK(grad_norm(store) == doctest::Approx(5.0 / (5.0 + 1e-6)).epsilon(std::is_same_v<T, float> ? 1e-6 : 1e-15));
}

TEST_CASE("clip_grad_norm leaves gradients bit-for-bit alone below the limit") {
  test::param_and_buffer<float> module(2, 1);
  parameter_store<float> store;
  generator rng(0);
  store.attach(module, rng);
  store.grads()[0] = 0.3f;
  store.grads()[1] = -0.4f;
  CHECK(clip_grad_norm(store, 0.5 + 1e-6) == doctest::Approx(0.5).epsilon(1e-7));
  CHECK(store.grads()[0] == 0.3f);
  CHECK(store.grads()[1] == -0.4f);
}

TEST_CASE("the norm is taken over all trainable parameters together") {
  const auto f = test::golden("optim");
  test::optim_mlp<double> m(f);
  m.loss_and_grad();
  double sq = 0;
  for (const auto& e : m.store.entries())
    for (std::int64_t i = 0; i < e.shape.numel(); ++i) sq += m.store.grads()[e.offset + i] * m.store.grads()[e.offset + i];
  const std::vector<double> before(m.store.grads(), m.store.grads() + m.store.size());
  const double norm = std::sqrt(sq);
  REQUIRE(norm > 0.01);
  const double total = clip_grad_norm(m.store, 0.01);
  CHECK(total == doctest::Approx(norm).epsilon(1e-14));  // equal up to the order of the sum
  const double coef = 0.01 / (total + 1e-6);
  for (std::int64_t i = 0; i < m.store.size(); ++i) CHECK(m.store.grads()[i] == before[i] * coef);
}

TEST_CASE("grad_norm over many chunks equals a serial sum") {
  const std::int64_t n = 7 * (1 << 13) + 11 + (1 << 16);
  test::param_and_buffer<float> module(n, 1);
  parameter_store<float> store;
  generator rng(3);
  store.attach(module, rng);
  rng.fill_normal(store.grads(), n, 0.0, 1.0);
  double sq = 0;
  for (std::int64_t i = 0; i < n; ++i) sq += double(store.grads()[i]) * double(store.grads()[i]);
  CHECK(grad_norm(store) == doctest::Approx(std::sqrt(sq)).epsilon(1e-12));
}

TEST_CASE("first_nonfinite_grad names the first parameter with a NaN or inf gradient") {
  const auto f = test::golden("optim");
  test::optim_mlp<float> m(f);
  m.loss_and_grad();
  CHECK_FALSE(first_nonfinite_grad(m.store).has_value());
  const auto* w2 = m.store.find("2.weight");
  REQUIRE(w2 != nullptr);
  m.store.grads()[w2->offset + 5] = std::numeric_limits<float>::infinity();
  CHECK(first_nonfinite_grad(m.store) == std::optional<std::string>("2.weight"));
  const auto* b0 = m.store.find("0.bias");
  m.store.grads()[b0->offset + 7] = std::numeric_limits<float>::quiet_NaN();
  CHECK(first_nonfinite_grad(m.store) == std::optional<std::string>("0.bias"));
  // A non-finite norm is returned and the gradients are left for the finite check to inspect.
  const std::vector<float> before(m.store.grads(), m.store.grads() + 3);
  CHECK_FALSE(std::isfinite(clip_grad_norm(m.store, 1.0)));
  for (int i = 0; i < 3; ++i) CHECK(m.store.grads()[i] == before[static_cast<std::size_t>(i)]);
  CHECK_THROWS_WITH_AS(clip_grad_norm(m.store, 0.0), doctest::Contains("max_norm must be > 0, got 0"), vae::error);
}
