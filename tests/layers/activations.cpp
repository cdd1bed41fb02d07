// Activation layers and the activation op: finite-difference gradients, PyTorch parity, Sequential naming, errors.
#include "vae/layers/activations.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "../test_support.hpp"
#include "vae/layers/linear.hpp"
#include "vae/layers/sequential.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Layer<ReLU<float>> && Layer<LeakyReLU<double>> && Layer<SiLU<float>> && Layer<GELU<float>> &&
              Layer<Tanh<float>> && Layer<Sigmoid<float>> && Layer<Softplus<float>>);

namespace {

// Random inputs pushed at least 0.1 away from 0, where ReLU and LeakyReLU have their kink.
tensor<double> away_from_zero(shape s, generator& rng) {
  auto x = test::random_tensor<double>(s, rng, 1.5);
  for (auto& v : x) v = v >= 0 ? v + 0.1 : v - 0.1;
  return x;
}

template <class L>
void check_gradients(L& layer, const std::string& what, std::uint64_t seed) {
  generator rng(seed);
  parameter_store<double> store;
  store.attach(layer, rng);
  CHECK(store.entries().empty());
  auto x = away_from_zero({3, 7}, rng);
  const auto report = testing::check_layer_gradients(layer, store, x);
  INFO(what << ": " << report.summary());
  CHECK(report.ok);
  CHECK(report.checked == x.numel());
}

template <class L>
void check_parity(L& layer, const std::string& name, const std::string& label, double atol = 1e-5, double rtol = 1e-4) {
  const auto f = test::golden("activations");
  const auto x = f.at("x").to_tensor<float>();
  const auto r = f.at("r").to_tensor<float>();
  test::require_parity(layer.forward(x), f, "y_" + name, label + " forward", atol, rtol);
  test::require_parity(layer.backward(r), f, "dx_" + name, label + " dx", atol, rtol);
}

}  // namespace

TEST_CASE("Activation gradients match finite differences (double)") {
  { ReLU<double> l; check_gradients(l, "ReLU", 1); }
  { LeakyReLU<double> l(0.2); check_gradients(l, "LeakyReLU", 2); }
  { SiLU<double> l; check_gradients(l, "SiLU", 3); }
  { GELU<double> l; check_gradients(l, "GELU", 4); }
  { GELU<double> l(gelu_approximation::tanh); check_gradients(l, "GELU(tanh)", 5); }
  { Tanh<double> l; check_gradients(l, "Tanh", 6); }
  { Sigmoid<double> l; check_gradients(l, "Sigmoid", 7); }
  { Softplus<double> l; check_gradients(l, "Softplus", 8); }
  // beta·x crosses the threshold (5) for some inputs: both regimes are checked.
  { Softplus<double> l(2.0, 5.0); check_gradients(l, "Softplus(beta=2, threshold=5)", 9); }
}

TEST_CASE("Activations match PyTorch (float32)") {
  { ReLU<float> l; check_parity(l, "relu", "ReLU", 0.0, 0.0); }  // max(x, 0) and dy·[x > 0] are exact
  { LeakyReLU<float> l(0.2); check_parity(l, "leaky_relu", "LeakyReLU(0.2)", 0.0, 0.0); }  // x·float(0.2), as PyTorch
  { SiLU<float> l; check_parity(l, "silu", "SiLU"); }
  { GELU<float> l; check_parity(l, "gelu", "GELU"); }
  { GELU<float> l(gelu_approximation::tanh); check_parity(l, "gelu_tanh", "GELU(tanh)"); }
  { Tanh<float> l; check_parity(l, "tanh", "Tanh"); }
  { Sigmoid<float> l; check_parity(l, "sigmoid", "Sigmoid"); }
  { Softplus<float> l; check_parity(l, "softplus", "Softplus"); }
  { Softplus<float> l(2.0, 5.0); check_parity(l, "softplus_b2_t5", "Softplus(beta=2, threshold=5)"); }
}

TEST_CASE("Activation kinks follow PyTorch: ReLU'(0) = 0, LeakyReLU'(0) = slope") {
  CHECK(activation::ReLU{}.derivative(0.0, 0.0) == 0.0);
  CHECK(activation::LeakyReLU{0.2}.derivative(0.0, 0.0) == 0.2);
  CHECK(activation::Softplus{}.value(30.0) == 30.0);
  CHECK(activation::Sigmoid{}.value(-1000.0) == 0.0);
  CHECK(activation::Sigmoid{}.value(1000.0) == 1.0);
}

namespace activations_test {
// Elements of layer(x) and its backward(dy) that differ from the policy's scalar value / derivative by more than
// float rounding of a few ulp (FMA contraction, vectorisation, Eigen's SIMD exp within 2 ulp of std::exp).
template <class Layer, class Policy>
std::int64_t off_scalar(Layer& layer, const Policy& f, const tensor<float>& x, const tensor<float>& dy) {
  const auto& y = layer.forward(x);
  const auto& dx = layer.backward(dy);
  auto close = [](float a, float b) { return std::abs(a - b) <= 1e-6f * std::max(1.f, std::abs(b)); };
  std::int64_t wrong = 0;
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    if (!close(y[i], f.value(x[i]))) ++wrong;
    if (!close(dx[i], dy[i] * f.derivative(x[i], y[i]))) ++wrong;
  }
  return wrong;
}
}  // namespace activations_test

TEST_CASE("Activation op covers every element of a large (parallel, multi-chunk) tensor") {
  generator rng(11);
  const std::int64_t n = 100003;  // not a multiple of the chunk size
  auto x = test::random_tensor<float>({n}, rng, 2.0);
  auto dy = test::random_tensor<float>({n}, rng);
  GELU<float> layer;
  CHECK(activations_test::off_scalar(layer, activation::GELU{}, x, dy) == 0);
}

TEST_CASE("GELU's float kernel (backend/cpu/gelu_float.hpp) is within 3e-7 of the double formula, tails included") {
  // A dense grid over [−14, 14] crosses the fit's split at |x| = 0.9·√2, the tail where 1 + erf cancels, and the
  // underflow of exp(−x²/2); the error bound tools/fit_gelu_float.py prints for this evaluation is 1.6e-7.
  const std::int64_t n = 28001;
  tensor<float> x({n}), dy({n}, 1.f);
  for (std::int64_t i = 0; i < n; ++i) x[i] = -14.f + 28.f * static_cast<float>(i) / static_cast<float>(n - 1);
  GELU<float> layer;
  const auto y = layer.forward(x);
  const auto dx = layer.backward(dy);
  std::int64_t off = 0, off_tail = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    const double cdf = 0.5 * std::erfc(-v / std::sqrt(2.0));
    const double ref_y = v * cdf, ref_d = cdf + v * std::exp(-0.5 * v * v) / std::sqrt(2.0 * std::numbers::pi);
    off += std::abs(y[i] - ref_y) > 3e-7 * std::max(1.0, std::abs(ref_y));
    off += std::abs(dx[i] - ref_d) > 3e-7 * std::max(1.0, std::abs(ref_d));
    // the negative tail keeps relative accuracy (erfc, not 1 + erf): std::erf in float is 1e-2 off at x = −5
    if (v < -1 && std::abs(ref_y) > 1e-30) off_tail += std::abs(y[i] - ref_y) > 3e-5 * std::abs(ref_y);
  }
  CHECK(off == 0);
  CHECK(off_tail == 0);
  tensor<float> special({4});
  special[0] = std::numeric_limits<float>::quiet_NaN();
  special[1] = std::numeric_limits<float>::infinity();
  special[2] = -std::numeric_limits<float>::infinity();
  special[3] = 0.f;
  const auto ys = layer.forward(special);
  CHECK(std::isnan(ys[0]));
  CHECK(ys[1] == std::numeric_limits<float>::infinity());
  CHECK(std::isnan(ys[2]));  // −∞·Φ(−∞) = −∞·0, as PyTorch and the scalar formula
  CHECK(ys[3] == 0.f);
}

TEST_CASE("SiLU's host kernel (Eigen's SIMD exp) agrees with the scalar formula, saturation included") {
  const std::int64_t n = 20011;  // several chunks, not a multiple of the chunk size
  tensor<float> x({n}), dy({n}, 1.f);
  for (std::int64_t i = 0; i < n; ++i) x[i] = -100.f + 200.f * static_cast<float>(i) / static_cast<float>(n - 1);
  SiLU<float> layer;
  CHECK(activations_test::off_scalar(layer, activation::SiLU{}, x, dy) == 0);
  const auto& y = layer.forward(x);
  CHECK(y[0] == doctest::Approx(0.0).scale(1).epsilon(1e-30));  // −100·σ(−100) ≈ −4e-42
  CHECK(y[n - 1] == 100.f);
  CHECK(layer.backward(dy)[n - 1] == 1.f);
}

TEST_CASE("Activations inside Sequential: indices count activation slots, gradients check") {
  generator rng(12);
  Sequential<Linear<double>, ReLU<double>, Linear<double>, Tanh<double>> net(Linear<double>(5, 4), ReLU<double>(),
                                                                            Linear<double>(4, 3), Tanh<double>());
  parameter_store<double> store;
  store.attach(net, rng, "dec.");
  REQUIRE(store.entries().size() == 4);
  CHECK(store.entries()[0].name == "dec.0.weight");
  CHECK(store.entries()[1].name == "dec.0.bias");
  CHECK(store.entries()[2].name == "dec.2.weight");
  CHECK(store.entries()[3].name == "dec.2.bias");
  auto x = test::random_tensor<double>({4, 5}, rng);
  const auto report = testing::check_layer_gradients(net, store, x);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == test::layer_checks(x, store));
}

TEST_CASE("Activation backward rejects a wrong dy shape and a call before forward") {
  SiLU<float> layer;
  tensor<float> x({2, 3}, 0.5f), dy({3, 2}, 1.f);
  CHECK_THROWS_WITH_AS(layer.backward(dy), doctest::Contains("SiLU::backward called before forward"), vae::error);
  layer.forward(x);
  CHECK_THROWS_WITH_AS(layer.backward(dy), doctest::Contains("SiLU::backward: dy: expected shape [2, 3], got [3, 2]"),
                       vae::error);
  CHECK_THROWS_WITH_AS(Softplus<float>(0.0), doctest::Contains("beta must be positive, got 0"), vae::error);
}
