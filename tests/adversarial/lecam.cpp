// LeCamRegularizer: both terms' gradients against finite differences (double), PyTorch parity with fixed anchors,
// bias-corrected moving averages, no term before the first update, gradients ADDED, bad options.
#include "vae/adversarial/lecam.hpp"

#include <cmath>

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

namespace lecam_test {
// A regularizer whose anchors are (a_real, a_fake): one update with decay 0 sets the averages to the means.
template <class T>
LeCamRegularizer<T> with_anchors(double a_real, double a_fake, double weight) {
  LeCamRegularizer<T> r({weight, 0.0});
  r.update(a_real, a_fake);
  return r;
}
}  // namespace lecam_test

TEST_CASE("LeCamRegularizer: gradients of both terms match finite differences (double)") {
  generator rng(5);
  auto x = test::random_tensor<double>({2, 1, 3, 3}, rng, 1.0);
  auto r = lecam_test::with_anchors<double>(0.2, -0.1, 0.3);
  for (std::int64_t i = 0; i < x.numel(); ++i)  // away from the kinks at the anchors
    if (std::abs(x[i] - 0.2) < 0.05 || std::abs(x[i] + 0.1) < 0.05) x[i] += 0.15;
  for (int which = 0; which < 2; ++which) {
    const auto term = [&](tensor<double>& g) { return which == 0 ? r.real_term(x, g) : r.fake_term(x, g); };
    tensor<double> grad(x.shape(), 0.0);
    term(grad);
    testing::gradcheck_report report;
    testing::check_gradient(
        [&] {
          tensor<double> scratch(x.shape(), 0.0);
          return term(scratch);
        },
        x.data(), grad.data(), x.numel(), which == 0 ? "real" : "fake", {}, report);
    INFO((which == 0 ? "real: " : "fake: ") << report.summary());
    CHECK(report.ok);
    CHECK(report.checked == x.numel());
    CHECK(report.nonzero > 0);
  }
}

TEST_CASE("LeCamRegularizer matches PyTorch with fixed anchors; its gradient is added to the one given") {
  const auto f = test::golden("adversarial");
  const auto a = f.at("lecam_anchors").values<double>();
  const auto& st = f.at("logits");
  tensor<float> x(st.dims);
  const auto v = st.values<float>();
  std::copy(v.begin(), v.end(), x.data());
  auto r = lecam_test::with_anchors<float>(a[0], a[1], a[2]);
  CHECK(r.anchor_real() == doctest::Approx(a[0]));
  CHECK(r.anchor_fake() == doctest::Approx(a[1]));
  for (const char* key : {"lecam_real", "lecam_fake"}) {
    tensor<float> grad(x.shape(), 0.0f);
    const bool real = std::string(key) == "lecam_real";
    const double value = real ? r.real_term(x, grad) : r.fake_term(x, grad);
    test::require_parity(tensor<float>({1}, static_cast<float>(value)), f, key, key);
    test::require_parity(grad, f, std::string(key) + "_grad", std::string(key) + " grad");
    tensor<float> shifted(x.shape(), 1.0f);  // ADDED: 1 + the same gradient
    real ? r.real_term(x, shifted) : r.fake_term(x, shifted);
    for (std::int64_t i = 0; i < x.numel(); ++i) CHECK(shifted[i] == doctest::Approx(1.0f + grad[i]));
  }
}

TEST_CASE("LeCamRegularizer: no term before the first update; bias-corrected averages; bad options") {
  LeCamRegularizer<double> r({0.5, 0.99});
  tensor<double> x({3}, 2.0), g({3}, 0.0);
  CHECK_FALSE(r.active());
  CHECK(r.real_term(x, g) == 0.0);
  CHECK(g[0] == 0.0);
  r.update(1.0, -1.0);
  r.update(3.0, -2.0);
  // α = 0.99·(0.01·1) + 0.01·3 = 0.0399, debiased by 1 − 0.99² = 0.0199
  CHECK(r.anchor_real() == doctest::Approx(0.0399 / 0.0199));
  CHECK(r.anchor_fake() == doctest::Approx(-(0.99 * 0.01 + 0.02) / 0.0199));
  CHECK(r.active());
  CHECK(r.updates() == 2);
  CHECK_THROWS_AS(LeCamRegularizer<float>({-1.0, 0.9}), vae::error);
  CHECK_THROWS_AS(LeCamRegularizer<float>({0.1, 1.0}), vae::error);
  tensor<double> wrong({2}, 0.0);
  CHECK_THROWS_AS(r.real_term(x, wrong), vae::error);
}
