// Likelihood ops (cpu kernels): the vectorised Bernoulli rows against the scalar BCE-with-logits loss op, across the
// 256-value chunk boundary and at large logits; the fixed-variance Gaussian against its formula; written gradients.
#include "vae/ops/likelihood_terms.hpp"

#include <cmath>
#include <numbers>
#include <vector>

#include "vae/ops/losses.hpp"

#include "../test_support.hpp"

using namespace vae;

namespace likelihood_terms_test {

// rows×p logits (with 0 and ±40 planted) and targets in [0, 1].
struct batch {
  std::int64_t rows, p;
  std::vector<double> out, x, w;
  batch(std::int64_t r, std::int64_t cols) : rows(r), p(cols), out(r * cols), x(r * cols), w(r) {
    generator rng(static_cast<std::uint64_t>(r * 1000 + cols));
    rng.fill_normal(out.data(), r * cols, 0.0, 6.0);
    rng.fill_uniform(x.data(), r * cols, 0.0, 1.0);
    rng.fill_uniform(w.data(), r, 0.1, 2.0);
    out[0] = 0.0;
    if (r * cols > 2) out[1] = 40.0, out[2] = -40.0;
  }
};

}  // namespace likelihood_terms_test

TEST_CASE("bernoulli ops: per-image sums equal the BCE-with-logits op, gradients w·(σ − x), mean σ") {
  using likelihood_terms_test::batch;
  for (auto [rows, p] : {std::pair<std::int64_t, std::int64_t>{3, 1}, {4, 255}, {2, 256}, {3, 700}}) {
    const batch b(rows, p);
    std::vector<double> nll(rows), per(rows * p), grad(rows * p), mean(rows * p);
    ops::bernoulli_nll<cpu>(rows, p, b.out.data(), b.x.data(), nll.data());
    ops::elementwise_loss<cpu>(losses::BCEWithLogits{}, rows * p, b.out.data(), b.x.data(), loss_reduction::none,
                               static_cast<double*>(nullptr), per.data());
    ops::bernoulli_nll_backward<cpu>(rows, p, b.out.data(), b.x.data(), b.w.data(), grad.data());
    ops::bernoulli_mean<cpu>(rows * p, b.out.data(), mean.data());
    for (std::int64_t i = 0; i < rows; ++i) {
      double reference = 0;
      for (std::int64_t k = 0; k < p; ++k) reference += per[i * p + k];
      INFO("rows=" << rows << " p=" << p << " image " << i);
      CHECK(nll[i] == doctest::Approx(reference).epsilon(1e-13));
      for (std::int64_t k = 0; k < p; ++k) {
        const std::int64_t e = i * p + k;
        const double sig = 1.0 / (1.0 + std::exp(-b.out[e]));
        CHECK(grad[e] == doctest::Approx(b.w[i] * (sig - b.x[e])).epsilon(1e-13));
        CHECK(mean[e] == doctest::Approx(sig).epsilon(1e-14));
      }
    }
  }
}

TEST_CASE("bernoulli ops in float (the AVX-512 rows where built): within float rounding of double; one pass = two") {
  using likelihood_terms_test::batch;
  for (auto [rows, p] : {std::pair<std::int64_t, std::int64_t>{3, 1}, {4, 255}, {2, 256}, {3, 700}, {2, 784}}) {
    const batch b(rows, p);
    const std::vector<float> of(b.out.begin(), b.out.end()), xf(b.x.begin(), b.x.end());
    const std::vector<double> od(of.begin(), of.end()), xd(xf.begin(), xf.end());  // the same values in double
    std::vector<double> nll_f(rows), nll_d(rows), nll_one(rows);
    std::vector<float> grad_f(rows * p), grad_one(rows * p, -7.f);
    ops::bernoulli_nll<cpu>(rows, p, of.data(), xf.data(), nll_f.data());
    ops::bernoulli_nll<cpu>(rows, p, od.data(), xd.data(), nll_d.data());
    ops::bernoulli_nll_backward<cpu>(rows, p, of.data(), xf.data(), b.w.data(), grad_f.data());
    ops::bernoulli_nll_and_backward<cpu>(rows, p, of.data(), xf.data(), b.w.data(), nll_one.data(), grad_one.data());
    constexpr double ulp = 1.0 / (1 << 24);
    for (std::int64_t i = 0; i < rows; ++i) {
      INFO("rows=" << rows << " p=" << p << " image " << i);
      // Each float term softplus(o) − o·x carries a few roundings of its two parts' size.
      double scale = 0;
      for (std::int64_t k = 0; k < p; ++k) {
        const double o = od[i * p + k];
        scale += std::max(o, 0.0) + std::log1p(std::exp(-std::abs(o))) + std::abs(o * xd[i * p + k]);
      }
      CHECK(std::abs(nll_f[i] - nll_d[i]) <= 4 * ulp * scale);
      CHECK(nll_one[i] == nll_f[i]);
      for (std::int64_t k = 0; k < p; ++k) {
        const std::int64_t e = i * p + k;
        const double sig = 1.0 / (1.0 + std::exp(-od[e])), want = b.w[i] * (sig - xd[e]);
        CHECK(std::abs(grad_f[e] - want) <= 4 * ulp * b.w[i] * (sig + xd[e]));
        CHECK(grad_one[e] == grad_f[e]);
      }
    }
  }
}

TEST_CASE("gaussian ops: per-image −log N(x | out, c) and gradient w/c·(out − x)") {
  using likelihood_terms_test::batch;
  const double c = 0.3;
  for (auto [rows, p] : {std::pair<std::int64_t, std::int64_t>{3, 1}, {2, 300}}) {
    const batch b(rows, p);
    std::vector<double> nll(rows), grad(rows * p);
    ops::gaussian_nll<cpu>(rows, p, c, b.out.data(), b.x.data(), nll.data());
    ops::gaussian_nll_backward<cpu>(rows, p, c, b.out.data(), b.x.data(), b.w.data(), grad.data());
    for (std::int64_t i = 0; i < rows; ++i) {
      double reference = 0;
      for (std::int64_t k = 0; k < p; ++k) {
        const double d = b.x[i * p + k] - b.out[i * p + k];
        reference += d * d / (2 * c) + 0.5 * std::log(2 * std::numbers::pi * c);
        CHECK(grad[i * p + k] == doctest::Approx(-b.w[i] / c * d).epsilon(1e-14));
      }
      CHECK(nll[i] == doctest::Approx(reference).epsilon(1e-13));
    }
  }
}
