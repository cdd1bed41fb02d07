// Softmax and log-softmax: finite differences (double), PyTorch parity with large entries (float32), in-place use,
// rows summing to 1, errors.
#include "vae/ops/softmax.hpp"

#include <cmath>

#include "vae/core/parameters.hpp"  // test_support.hpp uses parameter<T> without including it

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

namespace {
// loss = Σ f(x) ⊙ r, with its analytic gradient from the op's backward.
template <class Fwd, class Bwd>
void check_fd(const std::string& what, Fwd&& forward, Bwd&& backward, shape s, std::uint64_t seed) {
  generator rng(seed);
  auto x = test::random_tensor<double>(s, rng, 2.0);
  auto r = test::random_tensor<double>(s, rng);
  tensor<double> y, dx;
  auto loss = [&] {
    forward(x, y);
    double sum = 0;
    for (std::int64_t i = 0; i < y.numel(); ++i) sum += y[i] * r[i];
    return sum;
  };
  forward(x, y);
  backward(y, r, dx);
  testing::gradcheck_report report;
  testing::check_gradient(loss, x.data(), dx.data(), x.numel(), "x", {}, report);
  INFO(what << " " << s << ": " << report.summary());
  CHECK(report.ok);
  CHECK(report.checked == x.numel());
}
}  // namespace

TEST_CASE("softmax and log_softmax gradients match finite differences (double)") {
  for (const shape s : {shape{3, 7}, shape{2, 3, 5}, shape{4, 1}}) {
    check_fd(
        "softmax", [](auto& x, auto& y) { ops::softmax(x, y); },
        [](auto& y, auto& dy, auto& dx) { ops::softmax_backward(y, dy, dx); }, s, 1);
    check_fd(
        "log_softmax", [](auto& x, auto& y) { ops::log_softmax(x, y); },
        [](auto& y, auto& dy, auto& dx) { ops::log_softmax_backward(y, dy, dx); }, s, 2);
  }
}

TEST_CASE("softmax and log_softmax match PyTorch over the last dimension (float32)") {
  const auto f = test::golden("softmax");
  const auto x = f.at("x").to_tensor<float>();
  const auto r = f.at("r").to_tensor<float>();
  tensor<float> y, dx;
  ops::softmax(x, y);
  test::require_parity(y, f, "softmax_y", "softmax forward");
  ops::softmax_backward(y, r, dx);
  test::require_parity(dx, f, "softmax_dx", "softmax dx");
  ops::log_softmax(x, y);
  test::require_parity(y, f, "log_softmax_y", "log_softmax forward");
  ops::log_softmax_backward(y, r, dx);
  test::require_parity(dx, f, "log_softmax_dx", "log_softmax dx");
}

TEST_CASE("softmax rows sum to 1 with huge entries, and the pointer ops work in place") {
  tensor<float> x({2, 4});
  const float v[] = {1e4f, 1e4f, -1e4f, 0.f, 1.f, 2.f, 3.f, 4.f};
  std::copy(v, v + 8, x.data());
  tensor<float> y;
  ops::softmax(x, y);
  CHECK(y[0] == doctest::Approx(0.5));
  CHECK(y[1] == doctest::Approx(0.5));
  CHECK(y[2] == 0.f);
  for (int row = 0; row < 2; ++row) {
    double s = 0;
    for (int j = 0; j < 4; ++j) s += y[row * 4 + j];
    CHECK(s == doctest::Approx(1.0).epsilon(1e-6));
  }
  tensor<float> ly;
  ops::log_softmax(x, ly);
  CHECK(ly[0] == doctest::Approx(-std::log(2.0)));
  CHECK(ly[2] == doctest::Approx(-2e4 - std::log(2.0)));
  // In place: y may alias x, dx may alias dy.
  tensor<float> inplace = x;
  ops::softmax_forward<cpu>({2, 4}, inplace.data(), inplace.data());
  for (std::int64_t i = 0; i < 8; ++i) CHECK(inplace[i] == y[i]);
  tensor<float> dy({2, 4}, 0.25f), dx;
  dy[3] = -1.f;
  ops::softmax_backward(y, dy, dx);
  tensor<float> g = dy;
  ops::softmax_backward<cpu>({2, 4}, y.data(), g.data(), g.data());
  for (std::int64_t i = 0; i < 8; ++i) CHECK(g[i] == dx[i]);
  inplace = x;
  ops::log_softmax_forward<cpu>({2, 4}, inplace.data(), inplace.data());
  for (std::int64_t i = 0; i < 8; ++i) CHECK(inplace[i] == ly[i]);
}

TEST_CASE("softmax ops reject mismatched gradient shapes and empty inputs") {
  tensor<float> x({2, 3}, 0.f), y, dx;
  ops::softmax(x, y);
  tensor<float> dy({3, 2}, 0.f);
  CHECK_THROWS_WITH_AS(ops::softmax_backward(y, dy, dx),
                       doctest::Contains("softmax_backward: dy: expected shape [2, 3], got [3, 2]"), vae::error);
  CHECK_THROWS_WITH_AS(ops::log_softmax_backward(y, dy, dx),
                       doctest::Contains("log_softmax_backward: dy: expected shape [2, 3], got [3, 2]"), vae::error);
  tensor<float> empty({2, 0});
  CHECK_THROWS_WITH_AS(ops::softmax(empty, y), doctest::Contains("expected a non-empty input [..., D], got [2, 0]"),
                       vae::error);
  CHECK_THROWS_WITH_AS(ops::log_softmax(empty, y), doctest::Contains("got [2, 0]"), vae::error);
}
