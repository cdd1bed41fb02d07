// The gradient checker rejects what it must: planted wrong gradients, a planted wrong value (a forward its backward
// does not match), NaNs, empty checks, a dx the size of no input, a store not attached to the layer, a check where
// every derivative is zero; and passes a correct layer (the control). The nothing_to_check statement passes an empty
// call and fails one with values.
#include "vae/testing/gradcheck.hpp"

#include <cmath>
#include <string>
#include <utility>

#include "../test_support.hpp"
#include "vae/layers/linear.hpp"

using namespace vae;

namespace gradcheck_test {

enum class plant { none, dx_entry, weight_grad_entry, dx_one_short, y_entry, dx_nan, y_nan };

// A layer L with one planted bug: in its backward a relative error of 1e-4 (ten times the default rtol) at one entry
// of dx or of the first parameter's gradient, a dx one entry short, a NaN in dx; in its forward one output entry
// scaled by 1 + 1e-3 (a wrong value that the unchanged backward does not follow) or a NaN. plant::none is L unchanged.
template <class L>
struct Planted {
  using value_type = double;
  using backend = cpu;
  L inner;
  plant bug;
  std::int64_t at;
  tensor<double> y, dx;

  explicit Planted(L layer, plant b = plant::none, std::int64_t where = 0) : inner(std::move(layer)), bug(b), at(where) {}

  template <class V>
  void visit_parameters(const std::string& prefix, V&& visit) {
    inner.visit_parameters(prefix, visit);
  }
  const tensor<double>& forward(const tensor<double>& x) {
    y = inner.forward(x);
    if (bug == plant::y_entry) y[at] *= 1 + 1e-3;
    if (bug == plant::y_nan) y[at] = std::nan("");
    return y;
  }
  const tensor<double>& backward(const tensor<double>& dy) {
    const auto& d = inner.backward(dy);
    dx = d;
    if (bug == plant::dx_entry) dx[at] *= 1 + 1e-4;
    if (bug == plant::dx_nan) dx[at] = std::nan("");
    if (bug == plant::dx_one_short) dx.resize({d.numel() - 1});
    if (bug == plant::weight_grad_entry) {
      bool first = true;
      inner.visit_parameters("", [&](const std::string&, parameter<double>& p) {
        if (first) p.grad[at] *= 1 + 1e-4;
        first = false;
      });
    }
    return dx;
  }
};

// Parameter-free and correct, but its output does not depend on its input: y = 0, dx = 0. A checker that only
// compares analytic with numeric derivatives passes it, having tested nothing.
struct Constant {
  using value_type = double;
  using backend = cpu;
  tensor<double> y, dx;
  template <class V>
  void visit_parameters(const std::string&, V&&) {}
  const tensor<double>& forward(const tensor<double>& x) {
    y.resize(x.shape());
    for (std::int64_t i = 0; i < y.numel(); ++i) y[i] = 0;
    return y;
  }
  const tensor<double>& backward(const tensor<double>& dy) {
    dx.resize(dy.shape());
    for (std::int64_t i = 0; i < dx.numel(); ++i) dx[i] = 0;
    return dx;
  }
};

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace gradcheck_test

TEST_CASE("check_layer_gradients: a correct Linear passes, every input and parameter entry checked (control)") {
  using namespace gradcheck_test;
  generator rng(1);
  Planted<Linear<double>> layer{Linear<double>(6, 4)};
  parameter_store<double> store;
  store.attach(layer, rng);
  auto x = test::random_tensor<double>({3, 6}, rng);
  const auto report = testing::check_layer_gradients(layer, store, x);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == 3 * 6 + 4 * 6 + 4);
  CHECK(report.nonzero == report.checked);
}

TEST_CASE("check_layer_gradients rejects a planted relative error of 1e-4 in one entry of dx") {
  using namespace gradcheck_test;
  generator rng(1);
  Planted<Linear<double>> layer{Linear<double>(6, 4), plant::dx_entry, 7};
  parameter_store<double> store;
  store.attach(layer, rng);
  auto x = test::random_tensor<double>({3, 6}, rng);
  const auto report = testing::check_layer_gradients(layer, store, x);
  INFO(report.summary());
  CHECK_FALSE(report.ok);
  CHECK(report.worst == "input[7]");
  CHECK(contains(report.failures, "input[7]"));
  CHECK_FALSE(contains(report.failures, "input[6]"));
  CHECK_FALSE(contains(report.failures, "weight"));
}

TEST_CASE("check_layer_gradients rejects a planted relative error of 1e-4 in one parameter gradient entry") {
  using namespace gradcheck_test;
  generator rng(1);
  Planted<Linear<double>> layer{Linear<double>(6, 4), plant::weight_grad_entry, 5};
  parameter_store<double> store;
  store.attach(layer, rng);
  auto x = test::random_tensor<double>({3, 6}, rng);
  const auto report = testing::check_layer_gradients(layer, store, x);
  INFO(report.summary());
  CHECK_FALSE(report.ok);
  CHECK(report.worst == "weight[5]");
  CHECK_FALSE(contains(report.failures, "input["));
}

TEST_CASE("check_layer_gradients rejects a planted wrong value: one output entry off by 1e-3, backward unchanged") {
  using namespace gradcheck_test;
  generator rng(1);
  // y[5] is row 1, output 1 of [3, 4]: the loss's derivatives in row 1 of x, in weight row 1 and in bias[1] move.
  Planted<Linear<double>> layer{Linear<double>(6, 4), plant::y_entry, 5};
  parameter_store<double> store;
  store.attach(layer, rng);
  auto x = test::random_tensor<double>({3, 6}, rng);
  const auto report = testing::check_layer_gradients(layer, store, x);
  INFO(report.summary());
  CHECK_FALSE(report.ok);
  CHECK(report.checked == 3 * 6 + 4 * 6 + 4);
  CHECK(contains(report.failures, "input[6]"));
  for (const int clean : {0, 5, 12, 17}) CHECK_FALSE(contains(report.failures, cat("input[", clean, "]")));
}

TEST_CASE("check_layer_gradients rejects a NaN in dx and a NaN in the forward's output") {
  using namespace gradcheck_test;
  generator rng(1);
  auto x = test::random_tensor<double>({3, 6}, rng);
  SUBCASE("dx[7] = NaN") {
    Planted<Linear<double>> layer{Linear<double>(6, 4), plant::dx_nan, 7};
    parameter_store<double> store;
    store.attach(layer, rng);
    const auto report = testing::check_layer_gradients(layer, store, x);
    INFO(report.summary());
    CHECK_FALSE(report.ok);
    CHECK(contains(report.failures, "input[7]: analytic nan"));
    CHECK_FALSE(contains(report.failures, "weight"));  // the parameters were right
  }
  SUBCASE("y[2] = NaN: every finite difference is NaN") {
    Planted<Linear<double>> layer{Linear<double>(6, 4), plant::y_nan, 2};
    parameter_store<double> store;
    store.attach(layer, rng);
    const auto report = testing::check_layer_gradients(layer, store, x);
    INFO(report.summary());
    CHECK_FALSE(report.ok);
    CHECK(report.checked == 3 * 6 + 4 * 6 + 4);
    CHECK(contains(report.failures, "input[0]: analytic"));
    CHECK(contains(report.failures, "numeric nan"));
  }
}

TEST_CASE("check_layer_gradients fails a check of nothing: a parameter-free layer on an empty input") {
  using namespace gradcheck_test;
  generator rng(1);
  Constant layer;  // no parameters: the input is all there is to check
  parameter_store<double> store;
  store.attach(layer, rng);
  tensor<double> x({0, 5});
  const auto report = testing::check_layer_gradients(layer, store, x);
  INFO(report.summary());
  CHECK_FALSE(report.ok);
  CHECK(report.checked == 0);
  CHECK(contains(report.failures, "input: nothing to check (0 values): a check of no derivatives cannot pass"));
}

TEST_CASE("check_layer_gradients fails when dx is not the size of the input (the input check cannot run)") {
  using namespace gradcheck_test;
  generator rng(1);
  Planted<Linear<double>> layer{Linear<double>(6, 4), plant::dx_one_short};
  parameter_store<double> store;
  store.attach(layer, rng);
  auto x = test::random_tensor<double>({3, 6}, rng);
  const auto report = testing::check_layer_gradients(layer, store, x);
  INFO(report.summary());
  CHECK_FALSE(report.ok);
  CHECK(contains(report.failures, "input: backward returned dx of shape [17] for an input of shape [3, 6]"));
  CHECK(report.checked == 4 * 6 + 4);  // the parameters were still checked (and were right)
}

TEST_CASE("check_layer_gradients fails when the store is not the layer's (its parameters would go unchecked)") {
  using namespace gradcheck_test;
  generator rng(1);
  Linear<double> layer(6, 4), other(6, 4);
  parameter_store<double> mine, theirs;
  mine.attach(layer, rng);
  theirs.attach(other, rng);
  auto x = test::random_tensor<double>({3, 6}, rng);
  // `theirs` moves nothing in `layer`'s output and gets no gradient from it: 0 = 0 everywhere but the input.
  const auto report = testing::check_layer_gradients(layer, theirs, x);
  INFO(report.summary());
  CHECK_FALSE(report.ok);
  CHECK(contains(report.failures, "weight: a trainable parameter of the layer that is not in the store"));
  CHECK(contains(report.failures, "bias: a trainable parameter of the layer that is not in the store"));
}

TEST_CASE("check_layer_gradients fails a layer whose output depends on nothing perturbed (every derivative zero)") {
  using namespace gradcheck_test;
  generator rng(1);
  Constant layer;
  parameter_store<double> store;
  store.attach(layer, rng);
  auto x = test::random_tensor<double>({2, 5}, rng);
  const auto report = testing::check_layer_gradients(layer, store, x);
  INFO(report.summary());
  CHECK_FALSE(report.ok);
  CHECK(report.checked == 10);
  CHECK(report.nonzero == 0);
  CHECK(contains(report.failures, "all 10 checked derivatives are zero"));
}

TEST_CASE("check_gradient: a correct gradient passes; a planted error, a NaN, an empty call fail") {
  using namespace gradcheck_test;
  // loss = Σ c_i sin(x_i), d loss / d x_i = c_i cos(x_i).
  generator rng(4);
  auto x = test::random_tensor<double>({12}, rng);
  auto c = test::random_tensor<double>({12}, rng);
  auto loss = [&] {
    double s = 0;
    for (std::int64_t i = 0; i < 12; ++i) s += c[i] * std::sin(x[i]);
    return s;
  };
  tensor<double> g({12});
  for (std::int64_t i = 0; i < 12; ++i) g[i] = c[i] * std::cos(x[i]);
  const tensor<double> x0 = x;

  testing::gradcheck_report good;
  testing::check_gradient(loss, x.data(), g.data(), 12, "x", {}, good);
  INFO(good.summary());
  CHECK(good.ok);
  CHECK(good.checked == 12);
  CHECK(test::max_abs_diff(x, x0) == 0);  // every perturbed value restored

  SUBCASE("a relative error of 1e-4 in one entry") {
    g[3] *= 1 + 1e-4;
    testing::gradcheck_report r;
    testing::check_gradient(loss, x.data(), g.data(), 12, "x", {}, r);
    CHECK_FALSE(r.ok);
    CHECK(r.worst == "x[3]");
  }
  SUBCASE("a NaN analytic entry") {
    g[11] = std::nan("");
    testing::gradcheck_report r;
    testing::check_gradient(loss, x.data(), g.data(), 12, "x", {}, r);
    CHECK_FALSE(r.ok);
    CHECK(contains(r.failures, "x[11]: analytic nan"));
  }
  SUBCASE("an empty call fails the report, and later good calls do not clear it") {
    testing::gradcheck_report r;
    testing::check_gradient(loss, x.data(), g.data(), 0, "empty", {}, r);
    CHECK_FALSE(r.ok);
    CHECK(r.checked == 0);
    CHECK(contains(r.failures, "empty: nothing to check (0 values)"));
    testing::check_gradient(loss, x.data(), g.data(), 12, "x", {}, r);
    CHECK_FALSE(r.ok);
    CHECK(r.checked == 12);
  }
  SUBCASE("a loss that is NaN (every finite difference NaN)") {
    const auto nan_loss = [] { return std::nan(""); };
    testing::gradcheck_report r;
    testing::check_gradient(nan_loss, x.data(), g.data(), 12, "x", {}, r);
    CHECK_FALSE(r.ok);
    CHECK(r.checked == 12);
    CHECK(contains(r.failures, "x[0]: analytic"));
    CHECK(contains(r.failures, "numeric nan"));
  }
  SUBCASE("nothing_to_check: an empty call passes, a call with values fails (they are derivatives to check)") {
    testing::gradcheck_options none;
    none.nothing_to_check = true;
    testing::gradcheck_report empty;
    testing::check_gradient(loss, x.data(), g.data(), 0, "indices", none, empty);
    CHECK(empty.ok);
    CHECK(empty.checked == 0);
    testing::gradcheck_report wrong;
    testing::check_gradient(loss, x.data(), g.data(), 12, "x", none, wrong);
    CHECK_FALSE(wrong.ok);
    CHECK(wrong.checked == 0);
    CHECK(contains(wrong.failures, "x: 12 values, but the options say there is nothing to check"));
  }
  SUBCASE("options that cannot check are refused with a vae::error") {
    testing::gradcheck_report r;
    testing::gradcheck_options zero_step;
    zero_step.eps = 0;
    CHECK_THROWS_WITH_AS(testing::check_gradient(loss, x.data(), g.data(), 12, "x", zero_step, r),
                         doctest::Contains("check_gradient(x): eps must be a positive finite step, got 0"), vae::error);
    testing::gradcheck_options no_checks;
    no_checks.max_checks_per_tensor = 0;
    CHECK_THROWS_WITH_AS(testing::check_gradient(loss, x.data(), g.data(), 12, "x", no_checks, r),
                         doctest::Contains("max_checks_per_tensor must be at least 1, got 0"), vae::error);
  }
}

TEST_CASE("check_gradient samples large tensors at spread indices, first and last included") {
  // loss = ½ Σ x_i², gradient x; 1000 values checked at 96 indices (the default) or 1.
  generator rng(5);
  auto x = test::random_tensor<double>({1000}, rng);
  auto loss = [&] {
    double s = 0;
    for (std::int64_t i = 0; i < 1000; ++i) s += 0.5 * x[i] * x[i];
    return s;
  };
  tensor<double> g = x;
  testing::gradcheck_report all;
  testing::check_gradient(loss, x.data(), g.data(), 1000, "x", {}, all);
  CHECK(all.ok);
  CHECK(all.checked == 96);
  testing::gradcheck_options one;
  one.max_checks_per_tensor = 1;
  testing::gradcheck_report single;
  testing::check_gradient(loss, x.data(), g.data(), 1000, "x", one, single);
  CHECK(single.ok);
  CHECK(single.checked == 1);
  for (const std::int64_t at : {std::int64_t{0}, std::int64_t{999}}) {
    tensor<double> bad = x;
    bad[at] += 1e-3;
    testing::gradcheck_report r;
    testing::check_gradient(loss, x.data(), bad.data(), 1000, "x", {}, r);
    CHECK_FALSE(r.ok);
    CHECK(r.worst == "x[" + std::to_string(at) + "]");
  }
}
