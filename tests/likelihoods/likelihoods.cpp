// Likelihoods: PyTorch parity (BCE-with-logits sum, Normal log_prob), finite-difference gradients in the decoder
// output and the learned σ, means, accumulation of parameter grads, shape errors.
#include <vector>

#include "../test_support.hpp"
#include "vae/likelihoods/bernoulli.hpp"
#include "vae/likelihoods/gaussian.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

namespace {
template <class L, class T>
tensor<double> nll_of(L& lik, const tensor<T>& out, const tensor<T>& x) {
  std::vector<double> r(static_cast<std::size_t>(x.dim(0)));
  lik.nll(out, x, r);
  tensor<double> t({x.dim(0)});
  std::copy(r.begin(), r.end(), t.data());
  return t;
}

// d(Σ w_i nll_i)/d out by backward vs central differences (and d/d log_sigma when `param` is given).
template <class L>
testing::gradcheck_report check_likelihood(L& lik, tensor<double>& out, const tensor<double>& x,
                                           parameter<double>* param = nullptr) {
  const std::vector<double> w = {0.7, -1.3, 2.0};
  auto loss = [&] {
    std::vector<double> r(3);
    lik.nll(out, x, r);
    return w[0] * r[0] + w[1] * r[1] + w[2] * r[2];
  };
  tensor<double> d;
  if (param) param->grad[0] = 0;
  lik.backward(out, x, w, d);
  testing::gradcheck_report report;
  testing::check_gradient(loss, out.data(), d.data(), out.numel(), "out", {}, report);
  if (param) {
    const double g = param->grad[0];
    testing::check_gradient(loss, param->value, &g, 1, "log_sigma", {}, report);
  }
  return report;
}
}  // namespace

TEST_CASE("BernoulliLikelihood equals F.binary_cross_entropy_with_logits(...).sum(1), incl. logits ±60") {
  const auto f = test::golden("vae_losses");
  BernoulliLikelihood lik;
  test::require_parity(nll_of(lik, f.at("bern_logits").to_tensor<double>(), f.at("bern_x").to_tensor<double>()), f,
                       "bern_nll", "Bernoulli nll (double)", 1e-12, 1e-12);
  test::require_parity(nll_of(lik, f.at("bern_logits").to_tensor<float>(), f.at("bern_x").to_tensor<float>()), f,
                       "bern_nll", "Bernoulli nll (float)");
}

TEST_CASE("Gaussian likelihoods equal −Normal.log_prob(x).sum(1) (fixed variance, global σ, per-pixel σ)") {
  const auto f = test::golden("vae_losses");
  const auto mean = f.at("gauss_mean").to_tensor<double>(), x = f.at("gauss_x").to_tensor<double>();
  GaussianLikelihood fixed{0.3};
  test::require_parity(nll_of(fixed, mean, x), f, "gauss_nll", "Gaussian c=0.3", 1e-12, 1e-12);
  GaussianLearnedGlobalSigma<double> global;
  parameter_store<double> store;
  generator rng(0);
  store.attach(global, rng);
  CHECK(store.entries().at(0).name == "log_sigma");
  global.log_sigma().value[0] = f.at("gauss_log_sigma").values<double>()[0];
  test::require_parity(nll_of(global, mean, x), f, "gauss_global_nll", "Gaussian global sigma", 1e-12, 1e-12);
  GaussianLearnedPixelSigma pixel;
  CHECK(pixel.output_multiplier() == 2);
  test::require_parity(nll_of(pixel, f.at("gauss_pixel_out").to_tensor<double>(), x), f, "gauss_pixel_nll",
                       "Gaussian pixel sigma", 1e-12, 1e-12);
  test::require_parity(nll_of(pixel, f.at("gauss_pixel_out").to_tensor<float>(), f.at("gauss_x").to_tensor<float>()),
                       f, "gauss_pixel_nll", "Gaussian pixel sigma (float)");
}

TEST_CASE("Likelihood gradients match finite differences (double)") {
  generator rng(3);
  auto out = test::random_tensor<double>({3, 5}, rng, 2.0);
  auto x = test::random_tensor<double>({3, 5}, rng);
  tensor<double> xb({3, 5});
  for (auto& v : xb) v = rng.uniform() > 0.5 ? 1.0 : 0.0;
  SUBCASE("Bernoulli") {
    BernoulliLikelihood lik;
    const auto r = check_likelihood(lik, out, xb);
    INFO(r.summary());
    CHECK(r.ok);
    CHECK(r.checked == 15);
  }
  SUBCASE("Gaussian fixed variance") {
    GaussianLikelihood lik{0.25};
    const auto r = check_likelihood(lik, out, x);
    INFO(r.summary());
    CHECK(r.ok);
    CHECK(r.checked == 15);
  }
  SUBCASE("Gaussian learned global sigma") {
    GaussianLearnedGlobalSigma<double> lik;
    parameter_store<double> store;
    store.attach(lik, rng);
    lik.log_sigma().value[0] = -0.3;
    const auto r = check_likelihood(lik, out, x, &lik.log_sigma());
    INFO(r.summary());
    CHECK(r.ok);
    CHECK(r.checked == 16);
  }
  SUBCASE("Gaussian learned pixel sigma") {
    GaussianLearnedPixelSigma lik;
    auto out2 = test::random_tensor<double>({3, 10}, rng, 0.7);
    const auto r = check_likelihood(lik, out2, x);
    INFO(r.summary());
    CHECK(r.ok);
    CHECK(r.checked == 30);
  }
}

TEST_CASE("GaussianLearnedGlobalSigma backward accumulates (+=) into its parameter grad and writes d_out") {
  generator rng(4);
  const auto out = test::random_tensor<double>({3, 4}, rng), x = test::random_tensor<double>({3, 4}, rng);
  GaussianLearnedGlobalSigma<double> lik;
  parameter_store<double> store;
  store.attach(lik, rng);
  const std::vector<double> w = {1, 1, 1};
  tensor<double> d;
  lik.backward(out, x, w, d);
  const double once = store.grads()[0];
  const tensor<double> d1 = d;
  lik.backward(out, x, w, d);
  CHECK(store.grads()[0] == doctest::Approx(2 * once));
  for (std::int64_t i = 0; i < d.numel(); ++i) CHECK(d[i] == d1[i]);
}

TEST_CASE("Likelihood means: sigmoid for Bernoulli, identity for Gaussian, mean channels for per-pixel sigma") {
  tensor<float> out({2, 3}, 0.f);
  out[1] = 100.f;
  out[2] = -100.f;
  tensor<float> p;
  BernoulliLikelihood{}.mean(out, p);
  CHECK(p[0] == doctest::Approx(0.5));
  CHECK(p[1] == doctest::Approx(1.0));
  CHECK(p[2] == doctest::Approx(0.0));
  tensor<float> img({2, 4, 3, 3});
  for (std::int64_t i = 0; i < img.numel(); ++i) img[i] = static_cast<float>(i);
  GaussianLearnedPixelSigma{}.mean(img, p);
  CHECK(p.shape() == shape{2, 2, 3, 3});
  CHECK(p[0] == 0.f);
  CHECK(p[18] == 36.f);  // image 1 starts at 36 in the output
}

TEST_CASE("Likelihood shape errors are clear") {
  tensor<float> out({2, 6}), x({2, 5});
  std::vector<double> r(2);
  CHECK_THROWS_WITH_AS(BernoulliLikelihood{}.nll(out, x, r), doctest::Contains("BernoulliLikelihood::nll: expected"),
                       error);
  tensor<float> out2({2, 10});
  CHECK_NOTHROW(GaussianLearnedPixelSigma{}.nll(out2, x, r));
  CHECK_THROWS_WITH_AS(GaussianLearnedPixelSigma{}.nll(out, x, r), doctest::Contains("2x the values"), error);
  std::vector<double> r3(3);
  tensor<float> x6({2, 6});
  CHECK_THROWS_WITH_AS(GaussianLikelihood{}.nll(out, x6, r3), doctest::Contains("expected 2 per-image slots"), error);
}
