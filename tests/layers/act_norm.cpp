// ActNorm: the data-dependent initialisation, forward and gradients against taming's ActNorm in PyTorch,
// finite-difference gradients (double), no re-initialisation after the first batch / in eval mode / once loaded.
#include "vae/layers/act_norm.hpp"

#include "../encoders/stack_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Layer<ActNorm<float>>);

namespace act_norm_test {
template <class T>
void check_against_taming() {
  const auto f = test::golden("vqgan_act_norm");
  generator rng(0);
  ActNorm<T> norm(3);
  parameter_store<T> store;
  store.attach(norm, rng);
  REQUIRE(store.entries().size() == 3);
  const auto x = f.at("x").template to_tensor<T>();
  const auto r = f.at("r").template to_tensor<T>();
  const double atol = std::is_same_v<T, float> ? 1e-5 : 1e-6, rtol = std::is_same_v<T, float> ? 1e-4 : 1e-5;
  test::require_parity(norm.forward(x), f, "y", "ActNorm forward", atol, rtol);
  auto as_tensor = [](const T* p) {
    tensor<T> t({1, 3, 1, 1});
    std::copy(p, p + 3, t.data());
    return t;
  };
  test::require_parity(as_tensor(norm.loc().value), f, "init.loc", "ActNorm initial loc", atol, rtol);
  test::require_parity(as_tensor(norm.scale().value), f, "init.scale", "ActNorm initial scale", atol, rtol);
  store.zero_grad();
  test::require_parity(norm.backward(r), f, "dx", "ActNorm dx", atol, rtol);
  test::require_parity(as_tensor(norm.loc().grad), f, "g.loc", "ActNorm dloc", atol, rtol);
  test::require_parity(as_tensor(norm.scale().grad), f, "g.scale", "ActNorm dscale", atol, rtol);
}
}  // namespace act_norm_test

TEST_CASE("ActNorm initialises from its first training batch and matches taming's ActNorm in PyTorch") {
  act_norm_test::check_against_taming<float>();
  act_norm_test::check_against_taming<double>();
}

TEST_CASE("ActNorm gradients match finite differences (double)") {
  ActNorm<double> norm(3);
  CHECK(test::require_gradients(norm, {2, 3, 2, 3}, 81) == 3);  // the check's first forward initialises
}

TEST_CASE("ActNorm initialises once: not again on later batches, not in eval mode, not after loading initialized 1") {
  generator rng(82);
  const auto x1 = test::random_tensor<double>({2, 2, 3, 3}, rng, 3.0), x2 = test::random_tensor<double>({2, 2, 3, 3}, rng);
  SUBCASE("first batch only; the output is standardised per channel") {
    ActNorm<double> norm(2);
    parameter_store<double> store;
    store.attach(norm, rng);
    const auto& y = norm.forward(x1);
    for (std::int64_t c = 0; c < 2; ++c) {
      double s = 0, ss = 0;
      for (std::int64_t n = 0; n < 2; ++n)
        for (std::int64_t k = 0; k < 9; ++k) {
          const double v = y[(n * 2 + c) * 9 + k];
          s += v;
          ss += v * v;
        }
      CHECK(s / 18 == doctest::Approx(0.0).epsilon(1e-9).scale(1));
      CHECK(std::sqrt((ss - s * s / 18) / 17) == doctest::Approx(1.0).epsilon(1e-5));  // 1/(std + 1e-6)
    }
    const double loc0 = norm.loc().value[0], scale0 = norm.scale().value[0];
    CHECK(store.values()[store.trainable_size()] == 1.0);  // the "initialized" buffer
    norm.forward(x2);
    CHECK(norm.loc().value[0] == loc0);
    CHECK(norm.scale().value[0] == scale0);
  }
  SUBCASE("eval mode: the identity at loc 0, scale 1") {
    ActNorm<double> norm(2);
    parameter_store<double> store;
    store.attach(norm, rng);
    norm.set_training(false);
    const auto& y = norm.forward(x1);
    for (std::int64_t i = 0; i < x1.numel(); ++i) CHECK(y[i] == x1[i]);
    CHECK(store.values()[store.trainable_size()] == 0.0);
  }
  SUBCASE("a loaded initialized = 1 keeps the loaded loc and scale") {
    ActNorm<double> norm(2);
    parameter_store<double> store;
    store.attach(norm, rng);
    norm.loc().value[1] = 0.5;
    norm.scale().value[1] = 2.0;
    store.values()[store.trainable_size()] = 1.0;
    const auto& y = norm.forward(x1);
    CHECK(y[9] == doctest::Approx(2.0 * (x1[9] + 0.5)));
  }
}

TEST_CASE("ActNorm names and errors") {
  generator rng(83);
  ActNorm<float> norm(4);
  parameter_store<float> store;
  store.attach(norm, rng, "main.3.");
  REQUIRE(store.entries().size() == 3);
  CHECK(store.entries()[0].name == "main.3.loc");
  CHECK(store.entries()[0].shape == shape{1, 4, 1, 1});
  CHECK(store.entries()[1].name == "main.3.scale");
  CHECK(store.entries()[2].name == "main.3.initialized");
  CHECK_FALSE(store.entries()[2].trainable);
  tensor<float> x({1, 3, 2, 2}, 0.f), one({1, 4, 1, 1}, 0.f);
  CHECK_THROWS_WITH_AS(norm.forward(x), doctest::Contains("expected input [N, 4, *], got [1, 3, 2, 2]"), vae::error);
  CHECK_THROWS_WITH_AS(norm.forward(one), doctest::Contains("at least 2 values per channel"), vae::error);
  CHECK_THROWS_AS(ActNorm<float>(0), vae::error);
}
