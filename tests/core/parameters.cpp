// parameter_store: trainable-first layout, names, binding, initialisation bounds, duplicate and re-attach errors.
#include "vae/core/parameters.hpp"

#include <cmath>
#include <string>

#include <doctest/doctest.h>
#include "vae/layers/linear.hpp"
#include "vae/layers/sequential.hpp"

using namespace vae;

namespace {
// A module that interleaves buffers with trainable parameters, like BatchNorm.
template <class T>
struct mixed_module {
  parameter<T> weight, running_mean, bias, running_var;
  bool duplicate = false;
  mixed_module() {
    weight.shape = {3, 2};
    weight.init = parameter_init::uniform(-0.5, 0.25);
    running_mean.shape = {4};
    running_mean.trainable = false;
    running_mean.init = parameter_init::constant(0.0);
    bias.shape = {3};
    bias.init = parameter_init::constant(0.75);
    running_var.shape = {4};
    running_var.trainable = false;
    running_var.init = parameter_init::constant(1.0);
  }
  template <class V>
  void visit_parameters(const std::string& prefix, V&& visit) {
    visit(prefix + "weight", weight);
    visit(prefix + "running_mean", running_mean);
    visit(prefix + "bias", bias);
    visit(prefix + (duplicate ? "weight" : "running_var"), running_var);
  }
};
struct single_parameter {
  parameter<double> p;
  template <class V>
  void visit_parameters(const std::string& prefix, V&& visit) { visit(prefix + "p", p); }
};
}  // namespace

TEST_CASE_TEMPLATE("layout puts trainable parameters first, in visiting order", T, float, double) {
  mixed_module<T> m;
  generator rng(0);
  parameter_store<T> store;
  store.attach(m, rng, "bn.");
  const auto& e = store.entries();
  REQUIRE(e.size() == 4);
  CHECK(e[0].name == "bn.weight");
  CHECK(e[1].name == "bn.bias");
  CHECK(e[2].name == "bn.running_mean");
  CHECK(e[3].name == "bn.running_var");
  CHECK(e[0].offset == 0);
  CHECK(e[1].offset == 6);
  CHECK(e[2].offset == 9);
  CHECK(e[3].offset == 13);
  CHECK(e[0].trainable);
  CHECK_FALSE(e[2].trainable);
  CHECK(e[2].shape == shape{4});
  CHECK(store.size() == 17);
  CHECK(store.trainable_size() == 9);

  // Bound into the flat buffers; buffers have no gradient.
  CHECK(m.weight.value == store.values());
  CHECK(m.bias.value == store.values() + 6);
  CHECK(m.running_var.value == store.values() + 13);
  CHECK(m.weight.grad == store.grads());
  CHECK(m.bias.grad == store.grads() + 6);
  CHECK(m.running_mean.grad == nullptr);
  CHECK(m.running_var.grad == nullptr);

  REQUIRE(store.find("bn.bias") != nullptr);
  CHECK(store.find("bn.bias")->offset == 6);
  CHECK(store.find("bias") == nullptr);
}

TEST_CASE("initialisation respects each parameter's init") {
  mixed_module<double> m;
  m.weight.shape = {100, 100};
  generator rng(3);
  parameter_store<double> store;
  store.attach(m, rng);
  double lo = 1e9, hi = -1e9;
  for (std::int64_t i = 0; i < m.weight.numel(); ++i) {
    lo = std::min(lo, m.weight.value[i]);
    hi = std::max(hi, m.weight.value[i]);
  }
  CHECK(lo >= -0.5);
  CHECK(hi <= 0.25);
  CHECK(lo < -0.49);  // 10^4 uniform draws reach close to both ends
  CHECK(hi > 0.24);
  for (int i = 0; i < 3; ++i) CHECK(m.bias.value[i] == 0.75);
  for (int i = 0; i < 4; ++i) CHECK(m.running_mean.value[i] == 0.0);
  for (int i = 0; i < 4; ++i) CHECK(m.running_var.value[i] == 1.0);
  for (std::int64_t i = 0; i < store.size(); ++i) CHECK(store.grads()[i] == 0.0);
}

TEST_CASE("normal init has the requested mean and standard deviation") {
  single_parameter m;
  m.p.shape = {40000};
  m.p.init = parameter_init::normal(2.0, 0.5);
  generator rng(8);
  parameter_store<double> store;
  store.attach(m, rng);
  double mean = 0, var = 0;
  for (int i = 0; i < 40000; ++i) mean += m.p.value[i];
  mean /= 40000;
  for (int i = 0; i < 40000; ++i) var += (m.p.value[i] - mean) * (m.p.value[i] - mean);
  var /= 40000;
  CHECK(std::abs(mean - 2.0) < 5 * 0.5 / 200);  // 5 standard errors
  CHECK(std::abs(std::sqrt(var) - 0.5) < 5 * 0.5 / std::sqrt(2.0 * 40000));
}

TEST_CASE("fan_in_uniform matches PyTorch's Linear default bound 1/sqrt(fan_in)") {
  const auto init = parameter_init::fan_in_uniform(784);
  CHECK(init.how == parameter_init::kind::uniform);
  CHECK(init.a == doctest::Approx(-1.0 / 28.0));
  CHECK(init.b == doctest::Approx(1.0 / 28.0));
  Linear<float> lin(784, 16);
  generator rng(1);
  parameter_store<float> store;
  store.attach(lin, rng);
  for (std::int64_t i = 0; i < store.size(); ++i) {
    REQUIRE(store.values()[i] >= -1.0f / 28.0f);
    REQUIRE(store.values()[i] <= 1.0f / 28.0f);
  }
}

TEST_CASE("the same seed gives the same parameters") {
  Sequential a(Linear<float>(6, 5), Linear<float>(5, 2));
  Sequential b(Linear<float>(6, 5), Linear<float>(5, 2));
  generator ra(99), rb(99);
  parameter_store<float> sa, sb;
  sa.attach(a, ra, "net.");
  sb.attach(b, rb, "net.");
  REQUIRE(sa.size() == 6 * 5 + 5 + 5 * 2 + 2);
  for (std::int64_t i = 0; i < sa.size(); ++i) REQUIRE(sa.values()[i] == sb.values()[i]);
  CHECK(sa.entries()[2].name == "net.1.weight");
}

TEST_CASE("duplicate names are an error naming the parameter") {
  mixed_module<float> m;
  m.duplicate = true;
  generator rng(0);
  parameter_store<float> store;
  CHECK_THROWS_WITH_AS(store.attach(m, rng, "x."), doctest::Contains("duplicate parameter name 'x.weight'"),
                       vae::error);
}

TEST_CASE("a store attaches once") {
  Linear<float> lin(2, 2);
  generator rng(0);
  parameter_store<float> store;
  store.attach(lin, rng);
  CHECK_THROWS_WITH_AS(store.attach(lin, rng), doctest::Contains("already attached"), vae::error);
}

TEST_CASE("zero_grad clears every gradient") {
  Linear<float> lin(3, 2);
  generator rng(0);
  parameter_store<float> store;
  store.attach(lin, rng);
  for (std::int64_t i = 0; i < store.trainable_size(); ++i) store.grads()[i] = 1.0f;
  store.zero_grad();
  for (std::int64_t i = 0; i < store.size(); ++i) CHECK(store.grads()[i] == 0.0f);
}

TEST_CASE("parameter views expose the slice") {
  Linear<float> lin(3, 2);
  generator rng(0);
  parameter_store<float> store;
  store.attach(lin, rng);
  CHECK(lin.weight().value_view().shape() == shape{2, 3});
  CHECK(lin.weight().value_view().data() == store.values());
  CHECK(lin.bias().grad_view().data() == store.grads() + 6);
  CHECK(lin.weight().bound());
}
