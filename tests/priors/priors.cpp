// Priors: log-densities (closed form, PyTorch mixture fixture, K=1 mixture = Gaussian), finite-difference gradients
// in z and in every prior parameter (VampPrior: in the encoder outputs), sampling moments, accumulation, errors.
#include <cmath>
#include <numbers>
#include <vector>

#include "../test_support.hpp"
#include "vae/priors/learnable_gaussian.hpp"
#include "vae/priors/mixture_of_gaussians.hpp"
#include "vae/priors/standard_normal.hpp"
#include "vae/priors/vamp.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(GaussianPrior<StandardNormalPrior> && GaussianPrior<LearnableGaussianPrior<float>>);
static_assert(!GaussianPrior<MixtureOfGaussiansPrior<float>> && !GaussianPrior<VampPrior<float>>);
static_assert(Prior<VampPrior<double>, double, cpu> && EncoderDependentPrior<VampPrior<double>, double, cpu>);
static_assert(!EncoderDependentPrior<MixtureOfGaussiansPrior<double>, double, cpu>);

namespace {
const std::vector<double> weights = {0.5, -1.5, 2.0, 1.0};

template <class P>
double weighted_log_prob(P& prior, const tensor<double>& z) {
  std::vector<double> r(static_cast<std::size_t>(z.dim(0)));
  prior.log_prob(z, r);
  double s = 0;
  for (std::size_t i = 0; i < r.size(); ++i) s += weights[i] * r[i];
  return s;
}

// z gradient and (with a store) every parameter gradient of Σ w_i log p(z_i).
template <class P>
testing::gradcheck_report check_prior(P& prior, tensor<double>& z, parameter_store<double>* store) {
  auto loss = [&] { return weighted_log_prob(prior, z); };
  if (store) store->zero_grad();
  tensor<double> dz(z.shape(), 0.0);
  prior.backward(z, weights, dz);
  testing::gradcheck_report report;
  testing::check_gradient(loss, z.data(), dz.data(), z.numel(), "z", {}, report);
  if (store) {
    const std::vector<double> g(store->grads(), store->grads() + store->trainable_size());
    for (const auto& e : store->entries())
      testing::check_gradient(loss, store->values() + e.offset, g.data() + e.offset, e.shape.numel(), e.name, {}, report);
  }
  return report;
}
}  // namespace

TEST_CASE("StandardNormalPrior log_prob is Σ −½(z² + log 2π); its gradient is −z") {
  tensor<double> z({2, 3});
  for (std::int64_t i = 0; i < 6; ++i) z[i] = 0.3 * static_cast<double>(i) - 0.5;
  std::vector<double> r(2);
  StandardNormalPrior{}.log_prob(z, r);
  double e0 = 0;
  for (int j = 0; j < 3; ++j) e0 += -0.5 * (z[j] * z[j] + std::log(2 * std::numbers::pi));
  CHECK(r[0] == doctest::Approx(e0).epsilon(1e-14));
  generator rng(1);
  auto zz = test::random_tensor<double>({4, 3}, rng);
  StandardNormalPrior p;
  const auto rep = check_prior(p, zz, nullptr);
  INFO(rep.summary());
  CHECK(rep.ok);
  CHECK(rep.checked == 12);
}

TEST_CASE("MixtureOfGaussiansPrior matches a PyTorch log-sum-exp mixture density; K=1 equals LearnableGaussianPrior") {
  const auto f = test::golden("vae_losses");
  MixtureOfGaussiansPrior<double> mog(4, 3);
  parameter_store<double> store;
  generator rng(0);
  store.attach(mog, rng);
  test::load_into(mog.means(), f, "mog_means");
  test::load_into(mog.log_vars(), f, "mog_log_vars");
  test::load_into(mog.logits(), f, "mog_logits");
  const auto z = f.at("mog_z").to_tensor<double>();
  std::vector<double> r(5);
  mog.log_prob(z, r);
  tensor<double> t({5});
  std::copy(r.begin(), r.end(), t.data());
  test::require_parity(t, f, "mog_log_prob", "MoG log_prob", 1e-12, 1e-12);

  MixtureOfGaussiansPrior<double> one(1, 3);
  LearnableGaussianPrior<double> g(3);
  parameter_store<double> s1, s2;
  s1.attach(one, rng);
  s2.attach(g, rng);
  for (int j = 0; j < 3; ++j) {
    g.mean().value[j] = one.means().value[j];
    g.log_var().value[j] = one.log_vars().value[j] = 0.2 * j - 0.1;
  }
  one.logits().value[0] = 3.0;  // a single component's weight is 1 whatever its logit
  std::vector<double> a(5), b(5);
  one.log_prob(z, a);
  g.log_prob(z, b);
  for (int i = 0; i < 5; ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-13));
}

TEST_CASE("Prior gradients (z and parameters) match finite differences (double)") {
  generator rng(5);
  auto z = test::random_tensor<double>({4, 3}, rng, 1.5);
  SUBCASE("LearnableGaussianPrior") {
    LearnableGaussianPrior<double> p(3);
    parameter_store<double> store;
    store.attach(p, rng);
    for (int j = 0; j < 3; ++j) {
      p.mean().value[j] = 0.3 * j - 0.2;
      p.log_var().value[j] = 0.4 - 0.3 * j;
    }
    const auto rep = check_prior(p, z, &store);
    INFO(rep.summary());
    CHECK(rep.ok);
    CHECK(rep.checked == 12 + 6);
  }
  SUBCASE("MixtureOfGaussiansPrior") {
    MixtureOfGaussiansPrior<double> p(3, 3);
    parameter_store<double> store;
    store.attach(p, rng);
    for (int c = 0; c < 3; ++c) p.logits().value[c] = 0.5 * c - 0.4;
    for (int i = 0; i < 9; ++i) p.log_vars().value[i] = 0.1 * (i % 4) - 0.2;
    const auto rep = check_prior(p, z, &store);
    INFO(rep.summary());
    CHECK(rep.ok);
    CHECK(rep.checked == 12 + 9 + 9 + 3);
  }
  SUBCASE("VampPrior: gradients in the components (encoder outputs) via component_grad") {
    VampPrior<double> p(3, 5);
    parameter_store<double> store;
    store.attach(p, rng);
    auto h = test::random_tensor<double>({3, 6}, rng, 0.7);
    p.set_components(h);
    auto loss = [&] {
      p.set_components(h);
      return weighted_log_prob(p, z);
    };
    tensor<double> dz(z.shape(), 0.0);
    p.set_components(h);
    p.backward(z, weights, dz);
    const tensor<double> dh = p.component_grad();
    testing::gradcheck_report rep;
    testing::check_gradient(loss, z.data(), dz.data(), z.numel(), "z", {}, rep);
    testing::check_gradient(loss, h.data(), dh.data(), h.numel(), "components", {}, rep);
    INFO(rep.summary());
    CHECK(rep.ok);
    CHECK(rep.checked == z.numel() + 18);
    CHECK(store.entries().at(0).name == "pseudo_inputs");
    CHECK(p.pseudo_input_tensor().shape() == shape{3, 5});
  }
}

TEST_CASE("Prior backward ADDS into dz and parameter grads") {
  generator rng(6);
  const auto z = test::random_tensor<double>({4, 3}, rng);
  MixtureOfGaussiansPrior<double> p(2, 3);
  parameter_store<double> store;
  store.attach(p, rng);
  tensor<double> dz(z.shape(), 0.0);
  p.backward(z, weights, dz);
  const tensor<double> once = dz;
  const std::vector<double> g(store.grads(), store.grads() + store.trainable_size());
  p.backward(z, weights, dz);
  for (std::int64_t i = 0; i < dz.numel(); ++i) CHECK(dz[i] == doctest::Approx(2 * once[i]));
  for (std::int64_t i = 0; i < store.trainable_size(); ++i) CHECK(store.grads()[i] == doctest::Approx(2 * g[i]));
}

TEST_CASE("Prior samples have the prior's moments") {
  generator rng(7);
  const std::int64_t n = 20000;
  tensor<double> z({n, 2});
  LearnableGaussianPrior<double> g(2);
  parameter_store<double> store;
  store.attach(g, rng);
  g.mean().value[0] = 1.5;
  g.log_var().value[1] = std::log(4.0);
  g.sample(z, rng);
  double m0 = 0, v1 = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    m0 += z[2 * i] / n;
    v1 += z[2 * i + 1] * z[2 * i + 1] / n;
  }
  CHECK(std::abs(m0 - 1.5) < 4 * 1.0 / std::sqrt(n));
  CHECK(std::abs(v1 - 4.0) < 4 * 4.0 * std::sqrt(2.0 / n));

  MixtureOfGaussiansPrior<double> mog(2, 2);
  parameter_store<double> s2;
  s2.attach(mog, rng);
  mog.means().value[0] = -3;  // component 0 at (−3, 0), component 1 at (+3, 0), weights 1/4, 3/4
  mog.means().value[1] = 0;
  mog.means().value[2] = 3;
  mog.means().value[3] = 0;
  mog.logits().value[1] = std::log(3.0);
  mog.sample(z, rng);
  double mean = 0;
  for (std::int64_t i = 0; i < n; ++i) mean += z[2 * i] / n;
  CHECK(std::abs(mean - 1.5) < 0.1);  // 0.25·(−3) + 0.75·3; sd of the mean ≈ 2.8/√n = 0.02
}

TEST_CASE("Prior errors are clear") {
  generator rng(8);
  LearnableGaussianPrior<float> g(3);
  parameter_store<float> store;
  store.attach(g, rng);
  tensor<float> z({2, 4});
  std::vector<double> r(2);
  CHECK_THROWS_WITH_AS(g.log_prob(z, r), doctest::Contains("built for latent size 3"), error);
  VampPrior<float> v(2, 5);
  tensor<float> z3({2, 3});
  CHECK_THROWS_WITH_AS(v.log_prob(z3, r), doctest::Contains("components are not set"), error);
  tensor<float> z1({4});
  CHECK_THROWS_WITH_AS(StandardNormalPrior{}.log_prob(z1, r), doctest::Contains("expected latents [N, D]"), error);
}
