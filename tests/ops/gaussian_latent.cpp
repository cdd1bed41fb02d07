// Gaussian-latent ops (cpu kernels): split/join round trip, eps = the generator's own draws, the reparameterisation
// and KL gradients against finite differences (double), the KL against its closed form and against a prior equal
// to the posterior (zero), per-dimension means summing to the per-row mean.
#include "vae/ops/gaussian_latent.hpp"

#include <cmath>
#include <vector>

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

namespace gaussian_latent_test {
std::vector<double> normal(std::int64_t n, std::uint64_t seed, double stddev = 1.0, double mean = 0.0) {
  std::vector<double> v(static_cast<std::size_t>(n));
  generator rng(seed);
  rng.fill_normal(v.data(), n, mean, stddev);
  return v;
}
}  // namespace gaussian_latent_test

TEST_CASE("split_posterior / join_posterior: torch.chunk(2, dim=1) and its inverse") {
  const std::int64_t n = 3, d = 4;
  std::vector<float> h(n * 2 * d), mu(n * d), lv(n * d), back(n * 2 * d);
  for (std::size_t i = 0; i < h.size(); ++i) h[i] = static_cast<float>(i);
  ops::split_posterior<cpu>(n, d, h.data(), mu.data(), lv.data());
  CHECK(mu[1 * d + 2] == h[1 * 2 * d + 2]);
  CHECK(lv[2 * d + 3] == h[2 * 2 * d + d + 3]);
  ops::join_posterior<cpu>(n, d, mu.data(), lv.data(), back.data());
  CHECK(back == h);
}

TEST_CASE("reparameterize: eps are the generator's draws, z = mu + exp(logvar/2)·eps, backward by finite differences") {
  using gaussian_latent_test::normal;
  const std::int64_t n = 37;
  auto mu = normal(n, 1), lv = normal(n, 2, 0.5), dz = normal(n, 3);
  std::vector<double> eps(n), z(n), draws(n);
  generator a(9), b(9);
  a.reserve(5);
  b.reserve(5);
  ops::reparameterize<cpu>(a, n, mu.data(), lv.data(), eps.data(), z.data());
  b.fill_normal(draws.data(), n);
  CHECK(a.offset() == b.offset());
  CHECK(eps == draws);
  for (std::int64_t i = 0; i < n; ++i) CHECK(z[i] == doctest::Approx(mu[i] + std::exp(lv[i] / 2) * eps[i]).epsilon(1e-15));

  // L = Σ dz·z(mu, logvar) with eps fixed; the backward ADDS, so start from non-zero gradients.
  std::vector<double> dmu(n, 0.25), dlv(n, -0.5);
  ops::reparameterize_backward<cpu>(n, lv.data(), eps.data(), dz.data(), dmu.data(), dlv.data());
  for (std::int64_t i = 0; i < n; ++i) dmu[i] -= 0.25, dlv[i] += 0.5;
  auto loss = [&] {
    double s = 0;
    for (std::int64_t i = 0; i < n; ++i) s += dz[i] * (mu[i] + std::exp(lv[i] / 2) * eps[i]);
    return s;
  };
  testing::gradcheck_report report;
  testing::check_gradient(loss, mu.data(), dmu.data(), n, "mu", {}, report);
  testing::check_gradient(loss, lv.data(), dlv.data(), n, "logvar", {}, report);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == 2 * n);
}

TEST_CASE("fill_normal op: the generator's fill_normal draws") {
  std::vector<float> a(300), b(300);
  generator g1(4), g2(4);
  ops::fill_normal<cpu>(g1, a.data(), 300);
  g2.fill_normal(b.data(), 300);
  CHECK(a == b);
  CHECK(g1.offset() == g2.offset());
}

TEST_CASE("gaussian_kl: closed form, zero against an identical prior, per-dimension means, gradients by finite differences") {
  using gaussian_latent_test::normal;
  const std::int64_t n = 5, d = 3;
  auto mu = normal(n * d, 11), lv = normal(n * d, 12, 0.7), rs = normal(n, 13, 0.3, 1.0), ds = normal(d, 14, 0.3, 1.0);
  auto pm = normal(d, 15), plv = normal(d, 16, 0.5);
  std::vector<double> row(n), dim(d);
  ops::gaussian_kl<cpu>(n, d, mu.data(), lv.data(), nullptr, nullptr, row.data(), dim.data());
  double mean_row = 0, sum_dim = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    double reference = 0;
    for (std::int64_t j = 0; j < d; ++j) {
      const double m = mu[i * d + j], v = lv[i * d + j];
      reference += 0.5 * (m * m + std::exp(v) - v - 1);
    }
    CHECK(row[i] == doctest::Approx(reference).epsilon(1e-14));
    mean_row += row[i] / n;
  }
  for (double v : dim) sum_dim += v;
  CHECK(sum_dim == doctest::Approx(mean_row).epsilon(1e-14));

  // A prior equal to row 0's posterior: row 0's KL is 0.
  std::vector<double> m0(mu.begin(), mu.begin() + d), v0(lv.begin(), lv.begin() + d);
  ops::gaussian_kl<cpu>(n, d, mu.data(), lv.data(), m0.data(), v0.data(), row.data(), dim.data());
  CHECK(std::abs(row[0]) < 1e-15);
  CHECK(row[1] > 0);

  // Against a general prior: the op's rows equal KL(N(mu, e^lv) ‖ N(m, e^plv)) written out.
  auto kl_ij = [&](std::int64_t i, std::int64_t j) {
    const double diff = mu[i * d + j] - pm[j];
    return 0.5 * (plv[j] - lv[i * d + j] + (std::exp(lv[i * d + j]) + diff * diff) / std::exp(plv[j]) - 1);
  };
  ops::gaussian_kl<cpu>(n, d, mu.data(), lv.data(), pm.data(), plv.data(), row.data(), dim.data());
  for (std::int64_t i = 0; i < n; ++i) {
    double reference = 0;
    for (std::int64_t j = 0; j < d; ++j) reference += kl_ij(i, j);
    CHECK(row[i] == doctest::Approx(reference).epsilon(1e-14));
  }

  // L = Σ_ij rs_i·ds_j·KL_ij; gradients in mu, logvar (ADDED) and the prior (WRITTEN).
  for (bool with_dims : {false, true}) {
    std::vector<double> dmu(n * d, 1.0), dlv(n * d, 1.0), gm(d, 7.0), glv(d, 7.0);
    const double* dsp = with_dims ? ds.data() : nullptr;
    ops::gaussian_kl_backward<cpu>(n, d, mu.data(), lv.data(), pm.data(), plv.data(), rs.data(), dsp, dmu.data(),
                                   dlv.data(), gm.data(), glv.data());
    for (auto& g : dmu) g -= 1.0;
    for (auto& g : dlv) g -= 1.0;
    auto loss = [&] {
      double s = 0;
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < d; ++j) s += rs[i] * (with_dims ? ds[j] : 1.0) * kl_ij(i, j);
      return s;
    };
    testing::gradcheck_report report;
    testing::check_gradient(loss, mu.data(), dmu.data(), n * d, "mu", {}, report);
    testing::check_gradient(loss, lv.data(), dlv.data(), n * d, "logvar", {}, report);
    testing::check_gradient(loss, pm.data(), gm.data(), d, "prior mean", {}, report);
    testing::check_gradient(loss, plv.data(), glv.data(), d, "prior logvar", {}, report);
    INFO("dims " << with_dims << ": " << report.summary());
    CHECK(report.ok);
    CHECK(report.checked == 2 * n * d + 2 * d);
  }
}
