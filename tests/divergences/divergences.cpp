// Divergences: analytic KL vs PyTorch (N(0, I) and a diagonal Gaussian prior), analytic = Monte-Carlo in expectation,
// finite-difference gradients through the reparameterisation (incl. prior parameters and per-dimension scales),
// MMD: ≈0 for prior samples, > 0 for shifted ones, gradients; errors.
#include <cmath>
#include <vector>

#include "../test_support.hpp"
#include "vae/distributions/gaussian.hpp"
#include "vae/divergences/analytic_kl.hpp"
#include "vae/divergences/mmd.hpp"
#include "vae/divergences/monte_carlo_kl.hpp"
#include "vae/priors/learnable_gaussian.hpp"
#include "vae/priors/mixture_of_gaussians.hpp"
#include "vae/priors/standard_normal.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Divergence<AnalyticGaussianKL, StandardNormalPrior, float, cpu>);
static_assert(Divergence<MonteCarloKL, MixtureOfGaussiansPrior<double>, double, cpu>);
static_assert(Divergence<MMD<kernels::RBF>, StandardNormalPrior, double, cpu>);
static_assert(AnalyticGaussianKL::accepts<LearnableGaussianPrior<double>>());

namespace {
tensor<double> per_row(const divergence_stats& s) {
  tensor<double> t({static_cast<std::int64_t>(s.per_row.size())});
  std::copy(s.per_row.begin(), s.per_row.end(), t.data());
  return t;
}

// loss(mu, logvar) = Σ_ij row_i·dim_j·value_ij (Σ_i row_i·value_i without dims) at z = mu + σ·eps, eps fixed;
// the analytic gradient is the divergence's backward chained through the reparameterisation.
template <class Dv, class Prior>
testing::gradcheck_report check_divergence(Dv& div, Prior& prior, tensor<double>& mu, tensor<double>& lv,
                                           const tensor<double>& eps, const divergence_scale& scale,
                                           parameter_store<double>* store, std::uint64_t seed = 1) {
  auto loss = [&] {
    tensor<double> z;
    dist::reparameterize(mu, lv, eps, z);
    divergence_stats s;
    generator rng(seed);
    div.forward(mu, lv, z, eps, prior, rng, s);
    double v = 0;
    if (scale.dim.empty()) {
      for (std::size_t i = 0; i < s.per_row.size(); ++i) v += scale.row[i] * s.per_row[i];
    } else {
      double r = 0;  // row scales are constant here: Σ_ij r·d_j·v_ij = r·N·Σ_j d_j·per_dim_j
      for (auto x : scale.row) r = x;
      for (std::size_t j = 0; j < s.per_dim.size(); ++j) v += r * static_cast<double>(mu.dim(0)) * scale.dim[j] * s.per_dim[j];
    }
    return v;
  };
  if (store) store->zero_grad();
  tensor<double> z, dmu(mu.shape(), 0.0), dlv(mu.shape(), 0.0), dz(mu.shape(), 0.0);
  dist::reparameterize(mu, lv, eps, z);
  divergence_stats s;
  generator rng(seed);
  div.forward(mu, lv, z, eps, prior, rng, s);
  div.backward(mu, lv, z, eps, prior, scale, dmu, dlv, dz);
  dist::reparameterize_backward(lv, eps, dz, dmu, dlv);
  testing::gradcheck_report report;
  testing::check_gradient(loss, mu.data(), dmu.data(), mu.numel(), "mu", {}, report);
  testing::check_gradient(loss, lv.data(), dlv.data(), lv.numel(), "logvar", {}, report);
  if (store) {
    const std::vector<double> g(store->grads(), store->grads() + store->trainable_size());
    for (const auto& e : store->entries())
      testing::check_gradient(loss, store->values() + e.offset, g.data() + e.offset, e.shape.numel(), e.name, {}, report);
  }
  return report;
}
}  // namespace

TEST_CASE("AnalyticGaussianKL matches PyTorch: ½Σ(mu² + σ² − log σ² − 1) and kl_divergence(Normal, Normal)") {
  const auto f = test::golden("vae_losses");
  const auto mu = f.at("kl_mu").to_tensor<double>(), lv = f.at("kl_logvar").to_tensor<double>();
  AnalyticGaussianKL kl;
  divergence_stats s;
  generator rng(0);
  StandardNormalPrior std_prior;
  kl.forward(mu, lv, mu, mu, std_prior, rng, s);
  test::require_parity(per_row(s), f, "kl_std", "analytic KL vs N(0, I)", 1e-12, 1e-12);
  double dims = 0;
  for (auto v : s.per_dim) dims += v;
  CHECK(dims == doctest::Approx(s.mean()).epsilon(1e-13));

  LearnableGaussianPrior<double> prior(4);
  parameter_store<double> store;
  store.attach(prior, rng);
  test::load_into(prior.mean(), f, "kl_prior_mean");
  test::load_into(prior.log_var(), f, "kl_prior_log_var");
  kl.forward(mu, lv, mu, mu, prior, rng, s);
  test::require_parity(per_row(s), f, "kl_gauss", "analytic KL vs diagonal Gaussian prior", 1e-12, 1e-12);
  const auto muf = f.at("kl_mu").to_tensor<float>(), lvf = f.at("kl_logvar").to_tensor<float>();
  kl.forward(muf, lvf, muf, muf, std_prior, rng, s);
  test::require_parity(per_row(s), f, "kl_std", "analytic KL (float)");
}

TEST_CASE("MonteCarloKL averages to the analytic KL (N(0, I) and a learnable Gaussian prior)") {
  generator rng(2);
  const auto mu = test::random_tensor<double>({2, 3}, rng), lv = test::random_tensor<double>({2, 3}, rng, 0.5);
  LearnableGaussianPrior<double> prior(3);
  parameter_store<double> store;
  store.attach(prior, rng);
  for (int j = 0; j < 3; ++j) {
    prior.mean().value[j] = 0.2 * j;
    prior.log_var().value[j] = -0.3 * j;
  }
  auto compare = [&](auto& p) {
    divergence_stats exact, mc;
    AnalyticGaussianKL{}.forward(mu, lv, mu, mu, p, rng, exact);
    MonteCarloKL est;
    const int draws = 20000;
    std::vector<double> avg(2, 0.0), sq(2, 0.0);
    tensor<double> eps({2, 3}), z;
    for (int t = 0; t < draws; ++t) {
      rng.fill_normal(eps.data(), eps.numel());
      dist::reparameterize(mu, lv, eps, z);
      est.forward(mu, lv, z, eps, p, rng, mc);
      for (int i = 0; i < 2; ++i) {
        avg[i] += mc.per_row[i] / draws;
        sq[i] += mc.per_row[i] * mc.per_row[i] / draws;
      }
    }
    for (int i = 0; i < 2; ++i) {
      const double se = std::sqrt((sq[i] - avg[i] * avg[i]) / draws);
      INFO("row " << i << ": analytic " << exact.per_row[i] << " MC " << avg[i] << " ± " << se);
      CHECK(std::abs(avg[i] - exact.per_row[i]) < 4 * se);
    }
  };
  StandardNormalPrior sn;
  compare(sn);
  compare(prior);
}

TEST_CASE("Divergence gradients through the reparameterisation match finite differences (double)") {
  generator rng(3);
  auto mu = test::random_tensor<double>({4, 3}, rng), lv = test::random_tensor<double>({4, 3}, rng, 0.5);
  const auto eps = test::random_tensor<double>({4, 3}, rng);
  divergence_scale rows{{0.5, -1.0, 2.0, 0.25}, {}};
  SUBCASE("AnalyticGaussianKL vs N(0, I)") {
    AnalyticGaussianKL kl;
    StandardNormalPrior p;
    const auto r = check_divergence(kl, p, mu, lv, eps, rows, nullptr);
    INFO(r.summary());
    CHECK(r.ok);
    CHECK(r.checked == 24);
  }
  SUBCASE("AnalyticGaussianKL vs LearnableGaussianPrior (prior parameters too) with dimension scales") {
    AnalyticGaussianKL kl;
    LearnableGaussianPrior<double> p(3);
    parameter_store<double> store;
    store.attach(p, rng);
    for (int j = 0; j < 3; ++j) {
      p.mean().value[j] = 0.3 * j - 0.1;
      p.log_var().value[j] = 0.2 - 0.25 * j;
    }
    const auto r = check_divergence(kl, p, mu, lv, eps, rows, &store);
    INFO(r.summary());
    CHECK(r.ok);
    CHECK(r.checked == 24 + 6);
    divergence_scale dims{{0.25, 0.25, 0.25, 0.25}, {1.0, 0.0, 1.0}};
    const auto r2 = check_divergence(kl, p, mu, lv, eps, dims, &store);
    INFO(r2.summary());
    CHECK(r2.ok);
    CHECK(r2.checked == 24 + 6);
  }
  SUBCASE("MonteCarloKL vs MixtureOfGaussiansPrior (prior parameters too)") {
    MonteCarloKL kl;
    MixtureOfGaussiansPrior<double> p(3, 3);
    parameter_store<double> store;
    store.attach(p, rng);
    const auto r = check_divergence(kl, p, mu, lv, eps, rows, &store);
    INFO(r.summary());
    CHECK(r.ok);
    CHECK(r.checked == 24 + 21);
  }
  SUBCASE("MMD (IMQ) vs N(0, I)") {
    MMD<kernels::InverseMultiquadric> mmd;
    StandardNormalPrior p;
    const auto r = check_divergence(mmd, p, mu, lv, eps, rows, nullptr);
    INFO(r.summary());
    CHECK(r.ok);
    CHECK(r.checked == 24);
  }
  SUBCASE("MMD (RBF) vs LearnableGaussianPrior (pathwise into the prior parameters)") {
    MMD<kernels::RBF> mmd{kernels::RBF{2.0}};
    LearnableGaussianPrior<double> p(3);
    parameter_store<double> store;
    store.attach(p, rng);
    p.log_var().value[1] = 0.4;
    const auto r = check_divergence(mmd, p, mu, lv, eps, rows, &store);
    INFO(r.summary());
    CHECK(r.ok);
    CHECK(r.checked == 24 + 6);
  }
}

TEST_CASE("Divergence backward ADDS into dmu, dlogvar, dz") {
  generator rng(4);
  const auto mu = test::random_tensor<double>({3, 2}, rng), lv = test::random_tensor<double>({3, 2}, rng),
             eps = test::random_tensor<double>({3, 2}, rng);
  tensor<double> z;
  dist::reparameterize(mu, lv, eps, z);
  StandardNormalPrior p;
  divergence_stats s;
  divergence_scale sc{{1, 1, 1}, {}};
  MonteCarloKL kl;
  kl.forward(mu, lv, z, eps, p, rng, s);
  tensor<double> dmu(mu.shape(), 1.0), dlv(mu.shape(), 1.0), dz(mu.shape(), 1.0);
  kl.backward(mu, lv, z, eps, p, sc, dmu, dlv, dz);
  for (std::int64_t i = 0; i < 6; ++i) {
    CHECK(dlv[i] == doctest::Approx(0.5));    // 1 − ½
    CHECK(dz[i] == doctest::Approx(1 + z[i]));  // 1 − ∂log p/∂z
    CHECK(dmu[i] == 1.0);
  }
}

TEST_CASE("MMD is ≈ 0 on prior samples (unbiased) and clearly positive on shifted samples") {
  generator rng(5);
  StandardNormalPrior p;
  MMD<kernels::InverseMultiquadric> imq;
  MMD<kernels::RBF> rbf;
  const std::int64_t n = 64, d = 4;
  tensor<double> z({n, d}), zero({n, d}, 0.0);
  double mean_imq = 0, mean_rbf = 0, sq = 0;
  const int reps = 100;
  for (int t = 0; t < reps; ++t) {
    p.sample(z, rng);
    divergence_stats s;
    imq.forward(zero, zero, z, z, p, rng, s);
    mean_imq += s.per_row[0] / reps;
    sq += s.per_row[0] * s.per_row[0] / reps;
    rbf.forward(zero, zero, z, z, p, rng, s);
    mean_rbf += s.per_row[0] / reps;
  }
  const double se = std::sqrt((sq - mean_imq * mean_imq) / reps);
  MESSAGE("MMD(IMQ) on prior samples: " << mean_imq << " ± " << se << ", MMD(RBF): " << mean_rbf);
  CHECK(std::abs(mean_imq) < 4 * se);
  for (auto& v : z) v += 1.0;
  divergence_stats s;
  imq.forward(zero, zero, z, z, p, rng, s);
  CHECK(s.per_row[0] > 20 * se);
  for (auto v : s.per_row) CHECK(v == s.per_row[0]);
}

TEST_CASE("Divergence errors are clear") {
  generator rng(6);
  tensor<double> mu({1, 3}, 0.0), bad({2, 3}, 0.0);
  divergence_stats s;
  StandardNormalPrior p;
  CHECK_THROWS_WITH_AS(MMD<>{}.forward(mu, mu, mu, mu, p, rng, s), doctest::Contains("at least 2 latents"), error);
  CHECK_THROWS_WITH_AS(AnalyticGaussianKL{}.forward(mu, bad, mu, mu, p, rng, s),
                       doctest::Contains("AnalyticGaussianKL::forward: expected shape [1, 3]"), error);
  tensor<double> g({1, 3}, 0.0);
  divergence_scale dims{{1.0}, {1.0, 1.0, 1.0}};
  MonteCarloKL{}.forward(mu, mu, mu, mu, p, rng, s);
  CHECK_THROWS_WITH_AS(MonteCarloKL{}.backward(mu, mu, mu, mu, p, dims, g, g, g),
                       doctest::Contains("does not decompose per dimension"), error);
}
