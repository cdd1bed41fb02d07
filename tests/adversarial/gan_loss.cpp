// HingeLoss and NonSaturatingLoss: every term's gradient in the logits against finite differences (double),
// PyTorch parity (values and gradients, exact hinge kinks included), mean_logit, written (not accumulated) gradients.
#include "vae/adversarial/gan_loss.hpp"

#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

namespace gan_loss_test {

using term_fn = std::function<double(const tensor<double>&, tensor<double>*)>;

// Finite differences of one term over every logit.
void check_term_fd(const std::string& what, tensor<double>& x, const term_fn& term) {
  tensor<double> grad;
  term(x, &grad);
  REQUIRE(grad.shape() == x.shape());
  testing::gradcheck_report report;
  testing::check_gradient([&] { return term(x, nullptr); }, x.data(), grad.data(), x.numel(), what, {}, report);
  INFO(what << ": " << report.summary());
  CHECK(report.ok);
  CHECK(report.checked == x.numel());
}

template <class G>
void check_policy_fd(const char* name) {
  generator rng(3);
  auto x = test::random_tensor<double>({3, 1, 4, 4}, rng, 1.5);
  for (std::int64_t i = 0; i < x.numel(); ++i)  // keep away from the hinge kinks at ±1
    if (std::abs(std::abs(x[i]) - 1.0) < 0.05) x[i] += 0.2;
  G g;
  check_term_fd(std::string(name) + " real", x, [&](const auto& l, auto* d) { return g.discriminator_real(l, d); });
  check_term_fd(std::string(name) + " fake", x, [&](const auto& l, auto* d) { return g.discriminator_fake(l, d); });
  check_term_fd(std::string(name) + " generator", x, [&](const auto& l, auto* d) { return g.generator(l, d); });
}

template <class G>
void check_policy_parity(const char* prefix) {
  const auto f = test::golden("adversarial");
  const auto& st = f.at("logits");
  tensor<float> x(st.dims);
  const auto v = st.values<float>();
  std::copy(v.begin(), v.end(), x.data());
  G g;
  const std::pair<const char*, std::function<double(tensor<float>*)>> terms[] = {
      {"_real", [&](tensor<float>* d) { return g.discriminator_real(x, d); }},
      {"_fake", [&](tensor<float>* d) { return g.discriminator_fake(x, d); }},
      {"_g", [&](tensor<float>* d) { return g.generator(x, d); }},
  };
  for (const auto& [suffix, fn] : terms) {
    const std::string key = std::string(prefix) + suffix;
    tensor<float> grad({1}, 123.0f);  // resized and written, whatever it held
    const double value = fn(&grad);
    test::require_parity(tensor<float>({1}, static_cast<float>(value)), f, key, key);
    test::require_parity(grad, f, key + "_grad", key + " grad");
    CHECK(fn(nullptr) == value);
  }
}

}  // namespace gan_loss_test

TEST_CASE("GanLoss: HingeLoss and NonSaturatingLoss satisfy the concept; a plain struct does not") {
  static_assert(GanLoss<HingeLoss<float>>);
  static_assert(GanLoss<NonSaturatingLoss<double>>);
  static_assert(!GanLoss<int>);
  CHECK(std::string(HingeLoss<float>::name) == "hinge");
}

TEST_CASE("HingeLoss: gradients in the logits match finite differences (double)") {
  gan_loss_test::check_policy_fd<HingeLoss<double>>("hinge");
}

TEST_CASE("NonSaturatingLoss: gradients in the logits match finite differences (double)") {
  gan_loss_test::check_policy_fd<NonSaturatingLoss<double>>("non_saturating");
}

TEST_CASE("HingeLoss and NonSaturatingLoss match PyTorch (values and gradients, hinge kinks included)") {
  gan_loss_test::check_policy_parity<HingeLoss<float>>("hinge");
  gan_loss_test::check_policy_parity<NonSaturatingLoss<float>>("ns");
}

TEST_CASE("HingeLoss: values by hand, zero gradient beyond the margin, mean_logit") {
  tensor<double> x({4});
  x[0] = 2.0, x[1] = 1.0, x[2] = 0.5, x[3] = -3.0;
  HingeLoss<double> g;
  tensor<double> d;
  // real: 0.5·mean(relu(1 − x)) = 0.5·(0 + 0 + 0.5 + 4)/4
  CHECK(g.discriminator_real(x, &d) == doctest::Approx(0.5 * 4.5 / 4));
  CHECK(d[0] == 0.0);
  CHECK(d[1] == 0.0);  // the kink: relu'(0) = 0, as PyTorch
  CHECK(d[2] == doctest::Approx(-0.125));
  // fake: 0.5·mean(relu(1 + x)) = 0.5·(3 + 2 + 1.5 + 0)/4
  CHECK(g.discriminator_fake(x, &d) == doctest::Approx(0.5 * 6.5 / 4));
  CHECK(d[3] == 0.0);
  CHECK(g.generator(x, &d) == doctest::Approx(-0.125));
  CHECK(d[0] == doctest::Approx(-0.25));
  CHECK(mean_logit(x) == doctest::Approx(0.125));
  x[2] = std::numeric_limits<double>::quiet_NaN();  // propagated, as torch.relu: a finite check must see it
  CHECK(std::isnan(g.discriminator_real(x, &d)));
  CHECK(std::isnan(g.discriminator_fake(x, &d)));
  CHECK(std::isnan(g.generator(x, &d)));
  tensor<double> empty({0});
  CHECK_THROWS_AS(g.generator(empty, nullptr), vae::error);
}
