// FeaturePerceptualLoss: PyTorch parity of the loss and its input gradient (LPIPS at width/16 with lin weights, RGB
// and grey; the same VGG averaged over channels; the library's classifier), finite differences of the whole loss in
// x̂ (double) for both feature nets, the frozen net (no parameter gradient), zero at x̂ = x, errors.
#include "vae/adversarial/feature_perceptual_loss.hpp"

#include "../test_support.hpp"
#include "vae/adversarial/classifier_features.hpp"
#include "vae/adversarial/lpips.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

namespace feature_perceptual_loss_test {
// LPIPS without its lin weights: a FeatureNet that is not a WeightedFeatureNet (the channel-mean path), built from
// another net by hiding tap_weights — as a user's own net would plug in.
template <class Net>
struct Unweighted {
  using value_type = typename Net::value_type;
  using backend = typename Net::backend;
  Net net;
  template <class V>
  void visit_parameters(const std::string& p, V&& v) {
    net.visit_parameters(p, v);
  }
  const auto& forward(const tensor<value_type, backend>& x) { return net.forward(x); }
  const auto& backward(const tensor<value_type, backend>& dy) { return net.backward(dy); }
  std::size_t tap_count() const { return net.tap_count(); }
  const auto& tap(std::size_t i) const { return net.tap(i); }
  const auto& backward_taps(std::span<const tensor<value_type, backend>* const> d) { return net.backward_taps(d); }
};

// check_gradient of loss(x, ·) at xrec against the policy's gradient; returns the report.
template <class P>
testing::gradcheck_report check_in_xrec(P& p, const tensor<double>& x, tensor<double> xrec) {
  tensor<double> grad;
  p.loss(x, xrec, &grad);
  REQUIRE(grad.shape() == xrec.shape());
  testing::gradcheck_report report;
  testing::check_gradient([&] { return p.loss(x, xrec, nullptr); }, xrec.data(), grad.data(), xrec.numel(), "xrec",
                          {}, report);
  return report;
}

bool all_zero(const double* g, std::int64_t n) {
  return std::all_of(g, g + n, [](double v) { return v == 0.0; });
}
}  // namespace feature_perceptual_loss_test

using feature_perceptual_loss_test::Unweighted;

static_assert(PerceptualLoss<FeaturePerceptualLoss<LPIPS<float>>, float, cpu>);
static_assert(PerceptualLoss<FeaturePerceptualLoss<ClassifierFeatures<double>>, double, cpu>);
static_assert(FeatureNet<Unweighted<LPIPS<float>>> && !WeightedFeatureNet<Unweighted<LPIPS<float>>>);

// float32 against PyTorch: five VGG taps of 13 convolutions each side, sums over ≤ 4096 positions; atol 1e-5 on the
// gradient (|dxrec| ≲ 1e-2), rtol 1e-4 on the loss.
TEST_CASE("FeaturePerceptualLoss<LPIPS> matches PyTorch: loss and input gradient (width/16, RGB, grey, channel mean)") {
  const auto f = test::golden("lpips");
  FeaturePerceptualLoss<LPIPS<float>> p(LPIPS<float>({16}));
  load_lpips_weights(std::string(VAE_GOLDEN_DIR) + "/lpips_weights.safetensors", p.weights());
  tensor<float> grad;
  tensor<float> loss({1});
  loss[0] = static_cast<float>(p.loss(f.at("x").to_tensor<float>(), f.at("xrec").to_tensor<float>(), &grad));
  test::require_parity(loss, f, "loss", "LPIPS loss");
  test::require_parity(grad, f, "dxrec", "LPIPS d loss / d xrec");
  loss[0] = static_cast<float>(p.loss(f.at("x_grey").to_tensor<float>(), f.at("xrec_grey").to_tensor<float>(), &grad));
  test::require_parity(loss, f, "loss_grey", "LPIPS loss, grey images");
  test::require_parity(grad, f, "dxrec_grey", "LPIPS d loss / d xrec, grey images");

  FeaturePerceptualLoss<Unweighted<LPIPS<float>>> m(Unweighted<LPIPS<float>>{LPIPS<float>({16})});
  load_lpips_weights(std::string(VAE_GOLDEN_DIR) + "/lpips_weights.safetensors", m.weights());
  loss[0] = static_cast<float>(m.loss(f.at("x").to_tensor<float>(), f.at("xrec").to_tensor<float>(), &grad));
  test::require_parity(loss, f, "loss_mean", "channel-mean loss");
  test::require_parity(grad, f, "dxrec_mean", "channel-mean d loss / d xrec");
}

TEST_CASE("FeaturePerceptualLoss<ClassifierFeatures> matches PyTorch: loss and input gradient") {
  const auto f = test::golden("classifier_perceptual");
  const std::string run = std::string(VAE_GOLDEN_DIR) + "/classifier_run.safetensors";
  FeaturePerceptualLoss<ClassifierFeatures<float>> p(ClassifierFeatures<float>(classifier_features_options_of(run)));
  load_classifier_features(run, p.weights());
  tensor<float> grad, loss({1});
  loss[0] = static_cast<float>(p.loss(f.at("x").to_tensor<float>(), f.at("xrec").to_tensor<float>(), &grad));
  test::require_parity(loss, f, "loss", "classifier perceptual loss");
  test::require_parity(grad, f, "dxrec", "classifier perceptual d loss / d xrec");
}

TEST_CASE("FeaturePerceptualLoss gradients in x̂ match finite differences (double), both feature nets") {
  generator rng(21);
  {
    FeaturePerceptualLoss<LPIPS<double>> p(LPIPS<double>({16}), 3);
    const auto x = test::random_tensor<double>({1, 3, 16, 16}, rng, 0.5);
    const auto xrec = test::random_tensor<double>({1, 3, 16, 16}, rng, 0.5);
    const auto report = feature_perceptual_loss_test::check_in_xrec(p, x, xrec);
    INFO("LPIPS: " << report.summary());
    CHECK(report.ok);
    CHECK(report.checked == 96);
    CHECK(report.nonzero > 48);
    CHECK(p.weights().trainable_size() == 0);  // frozen: the store gave the net no gradient slots
    CHECK(feature_perceptual_loss_test::all_zero(p.weights().grads(), p.weights().size()));
  }
  {
    classifier_features_options o;
    o.channels = 2;
    o.base_width = 3;
    FeaturePerceptualLoss<ClassifierFeatures<double>> p(ClassifierFeatures<double>(o), 4);
    const auto x = test::random_tensor<double>({2, 2, 8, 8}, rng, 0.5);
    const auto xrec = test::random_tensor<double>({2, 2, 8, 8}, rng, 0.5);
    const auto report = feature_perceptual_loss_test::check_in_xrec(p, x, xrec);
    INFO("classifier: " << report.summary());
    CHECK(report.ok);
    CHECK(report.checked == 96);
    CHECK(report.nonzero > 48);
    CHECK(p.weights().trainable_size() == 0);
  }
}

TEST_CASE("FeaturePerceptualLoss is zero with a zero gradient at x̂ = x, positive elsewhere, and refuses mismatches") {
  generator rng(5);
  FeaturePerceptualLoss<LPIPS<float>> p(LPIPS<float>({16}), 1);
  const auto x = test::random_tensor<float>({2, 3, 16, 16}, rng, 0.5);
  tensor<float> grad;
  CHECK(p.loss(x, x, &grad) == 0.0);
  CHECK(test::max_abs_diff(grad, tensor<float>(x.shape(), 0.f)) == 0.0);
  const auto y = test::random_tensor<float>({2, 3, 16, 16}, rng, 0.5);
  CHECK(p.loss(x, y, nullptr) > 0.0);
  const auto other = test::random_tensor<float>({2, 3, 16, 20}, rng);
  CHECK_THROWS_WITH_AS(p.loss(x, other, &grad), doctest::Contains("one shape"), vae::error);
  const auto small = test::random_tensor<float>({2, 3, 8, 8}, rng);
  CHECK_THROWS_WITH_AS(p.loss(small, small, &grad), doctest::Contains("H ≥ 16"), vae::error);
}
