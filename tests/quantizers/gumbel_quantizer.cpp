// GumbelQuantizer: relaxation gradients at fixed noise (finite differences), hard evaluation and lookup, temperature
// schedule, KL-to-uniform term, errors.
#include "vae/quantizers/gumbel_quantizer.hpp"

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Quantizer<GumbelQuantizer<float>>);
static_assert(HasStep<GumbelQuantizer<float>>);

namespace {
testing::gradcheck_report check_gumbel(GumbelQuantizer<double>& q, parameter_store<double>& store, tensor<double>& z) {
  generator rng(4);
  q.set_training(true);
  auto r = test::random_tensor<double>(q.forward(z).shape(), rng);
  q.set_fixed_noise(true);
  store.zero_grad();
  const tensor<double> dz = q.backward(r);
  const std::vector<double> grads(store.grads(), store.grads() + store.trainable_size());
  auto f = [&] {
    const auto& y = q.forward(z);
    double s = 0;
    for (std::int64_t i = 0; i < y.numel(); ++i) s += y[i] * r[i];
    return s + q.loss();
  };
  testing::gradcheck_report report;
  testing::check_gradient(f, z.data(), dz.data(), z.numel(), "z_e", {}, report);
  for (const auto& e : store.entries())
    testing::check_gradient(f, store.values() + e.offset, grads.data() + e.offset, e.shape.numel(), e.name, {}, report);
  q.set_fixed_noise(false);
  return report;
}
}  // namespace

TEST_CASE("GumbelQuantizer relaxation gradients match finite differences at fixed noise (double)") {
  SUBCASE("1x1 projection to logits") {
    gumbel_options opt;
    opt.kl_weight = 0.3;  // large enough that the KL term's gradient matters in the check
    generator rng(1);
    GumbelQuantizer<double> q(3, 5, 2, opt);
    parameter_store<double> store;
    store.attach(q, rng);
    q.set_step(opt.anneal_steps / 3);
    auto z = test::random_tensor<double>({2, 3, 2, 2}, rng);
    const auto report = check_gumbel(q, store, z);
    INFO(report.summary());
    CHECK(report.ok);
    CHECK(report.checked == test::layer_checks(z, store));  // z_e and every parameter, each entry once
    CHECK(store.find("proj.weight") != nullptr);
  }
  SUBCASE("z_e holds the logits (D = K)") {
    gumbel_options opt;
    opt.projection = false;
    opt.kl_weight = 0.5;
    opt.tau_start = 0.7;
    generator rng(2);
    GumbelQuantizer<double> q(4, 4, 3, opt);
    parameter_store<double> store;
    store.attach(q, rng);
    auto z = test::random_tensor<double>({1, 4, 3, 2}, rng);
    const auto report = check_gumbel(q, store, z);
    INFO(report.summary());
    CHECK(report.ok);
    CHECK(report.checked == test::layer_checks(z, store));
    CHECK(store.entries().size() == 1);
  }
}

TEST_CASE("GumbelQuantizer evaluation takes the argmax code; lookup reproduces it exactly") {
  gumbel_options opt;
  opt.projection = false;
  generator rng(3);
  GumbelQuantizer<float> q(6, 6, 4, opt);
  parameter_store<float> store;
  store.attach(q, rng);
  auto z = test::random_tensor<float>({2, 6, 2, 3}, rng);
  q.set_training(false);
  const tensor<float> zq = q.forward(z);
  const std::int64_t hw = 6;
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t p = 0; p < hw; ++p) {
      std::int64_t best = 0;
      for (std::int64_t k = 1; k < 6; ++k)
        if (z[(n * 6 + k) * hw + p] > z[(n * 6 + best) * hw + p]) best = k;
      CHECK(q.indices()[n * hw + p] == best);
      for (std::int64_t c = 0; c < 4; ++c) CHECK(zq[(n * 4 + c) * hw + p] == q.codebook().value[best * 4 + c]);
    }
  tensor<float> out;
  q.lookup(q.indices(), out);
  for (std::int64_t i = 0; i < zq.numel(); ++i) CHECK(out[i] == zq[i]);
}

TEST_CASE("GumbelQuantizer temperature anneals exponentially from start to end") {
  gumbel_options opt;
  opt.tau_start = 1.0;
  opt.tau_end = 0.0625;
  opt.anneal_steps = 100;
  GumbelQuantizer<float> q(2, 2, 2, opt);
  q.set_step(0);
  CHECK(q.temperature() == doctest::Approx(1.0));
  q.set_step(50);
  CHECK(q.temperature() == doctest::Approx(0.25));
  q.set_step(100);
  CHECK(q.temperature() == doctest::Approx(0.0625));
  q.set_step(1000);
  CHECK(q.temperature() == doctest::Approx(0.0625));
}

TEST_CASE("GumbelQuantizer KL-to-uniform term: zero for uniform logits, the hand value otherwise") {
  gumbel_options opt;
  opt.projection = false;
  opt.kl_weight = 2.0;
  generator rng(5);
  GumbelQuantizer<double> q(3, 3, 1, opt);
  parameter_store<double> store;
  store.attach(q, rng);
  tensor<double> z({1, 3, 1, 2}, 0.0);
  q.forward(z);
  CHECK(q.loss() == doctest::Approx(0.0));
  z[0] = 1.0;  // position 0 logits (1, 0, 0); position 1 uniform
  q.forward(z);
  const double s = std::exp(1.0) + 2.0;
  const double p[] = {std::exp(1.0) / s, 1 / s, 1 / s};
  double kl = 0;
  for (const double v : p) kl += v * std::log(3 * v);
  CHECK(q.kl_to_uniform() == doctest::Approx(kl / 2));
  CHECK(q.loss() == doctest::Approx(2.0 * kl / 2));
}

TEST_CASE("GumbelQuantizer rejects bad configurations and shapes") {
  gumbel_options opt;
  opt.projection = false;
  CHECK_THROWS_WITH_AS(GumbelQuantizer<float>(3, 5, 2, opt), doctest::Contains("D must equal K"), error);
  generator rng(6);
  GumbelQuantizer<float> q(3, 5, 2);
  parameter_store<float> store;
  store.attach(q, rng);
  tensor<float> z({1, 4, 2, 2});
  CHECK_THROWS_WITH_AS(q.forward(z), doctest::Contains("expected z_e [N, 3, h, w], got [1, 4, 2, 2]"), error);
  tensor<std::int32_t> t({1, 1, 1}, 5);
  tensor<float> out;
  CHECK_THROWS_WITH_AS(q.lookup(t, out), doctest::Contains("outside [0, 5)"), error);
}
