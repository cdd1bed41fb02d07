// Losses: finite differences (double) for every loss and reduction, PyTorch parity (float32) including ties,
// large logits and an ignored target, written (not accumulated) gradients, chunked reductions, errors.
#include "vae/ops/losses.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include "vae/core/parameters.hpp"  // test_support.hpp uses parameter<T> without including it

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

namespace {

constexpr loss_reduction all_reductions[] = {loss_reduction::mean, loss_reduction::sum, loss_reduction::none};

const char* name_of(loss_reduction r) {
  return r == loss_reduction::mean ? "mean" : r == loss_reduction::sum ? "sum" : "none";
}

// The scalar the gradient belongs to: the reduced value (for none, the sum of the per-element losses).
template <class F>
double scalar(F&& loss, loss_reduction r) {
  tensor<double> per;
  return loss(nullptr, r, r == loss_reduction::none ? &per : nullptr);
}

// Finite-difference check of dx for `loss(dx*, reduction, per_element*)`, which reads `x`.
template <class F>
void check_fd(const std::string& what, tensor<double>& x, F&& loss) {
  for (const auto r : all_reductions) {
    tensor<double> dx, per;
    loss(&dx, r, r == loss_reduction::none ? &per : nullptr);
    testing::gradcheck_report report;
    testing::check_gradient([&] { return scalar(loss, r); }, x.data(), dx.data(), x.numel(), "x", {}, report);
    INFO(what << " reduction=" << name_of(r) << ": " << report.summary());
    CHECK(report.ok);
    CHECK(report.checked == x.numel());
  }
}

// Parity of value, per-element losses (none) and dx for each reduction against `<prefix>_<reduction>[_dx]`.
template <class F>
void check_parity(const io::safetensors_file& f, const std::string& prefix, const std::string& label, F&& loss) {
  for (const auto r : all_reductions) {
    const std::string key = prefix + "_" + name_of(r);
    tensor<float> dx, per;
    const double v = loss(&dx, r, r == loss_reduction::none ? &per : nullptr);
    if (r == loss_reduction::none) {
      test::require_parity(per, f, key, label + " none (per element)");
      double s = 0;
      for (const float p : per) s += p;
      CHECK(v == doctest::Approx(s));
    } else {
      test::require_parity(tensor<float>({1}, static_cast<float>(v)), f, key, label + " " + name_of(r));
    }
    test::require_parity(dx, f, key + "_dx", label + " " + name_of(r) + " dx");
  }
}

}  // namespace

TEST_CASE("Elementwise losses: gradients match finite differences for every reduction (double)") {
  generator rng(1);
  auto x = test::random_tensor<double>({3, 5}, rng);
  auto t = test::random_tensor<double>({3, 5}, rng);
  for (std::int64_t i = 0; i < x.numel(); ++i)  // keep |x − t| ≥ 0.1: L1 has its kink at 0
    if (std::abs(x[i] - t[i]) < 0.1) x[i] += 0.3;
  check_fd("mse_loss", x,
           [&](tensor<double>* dx, loss_reduction r, tensor<double>* per) { return ops::mse_loss(x, t, dx, r, per); });
  check_fd("l1_loss", x,
           [&](tensor<double>* dx, loss_reduction r, tensor<double>* per) { return ops::l1_loss(x, t, dx, r, per); });
  auto logits = test::random_tensor<double>({3, 5}, rng, 4.0);
  tensor<double> p({3, 5});
  rng.fill_uniform(p.data(), p.numel(), 0.0, 1.0);
  check_fd("bce_with_logits_loss", logits, [&](tensor<double>* dx, loss_reduction r, tensor<double>* per) {
    return ops::bce_with_logits_loss(logits, p, dx, r, per);
  });
}

TEST_CASE("cross_entropy_loss: gradients match finite differences, ignored row included (double)") {
  generator rng(2);
  auto x = test::random_tensor<double>({5, 4}, rng, 2.0);
  tensor<std::int64_t> target({5});
  const std::int64_t ids[] = {2, 0, default_ignore_index, 3, 2};
  std::copy(ids, ids + 5, target.data());
  check_fd("cross_entropy_loss", x, [&](tensor<double>* dx, loss_reduction r, tensor<double>* per) {
    return ops::cross_entropy_loss(x, target, dx, r, per);
  });
  tensor<double> dx;
  ops::cross_entropy_loss(x, target, &dx);
  for (std::int64_t j = 0; j < 4; ++j) CHECK(dx[2 * 4 + j] == 0.0);  // the ignored row
  // A custom ignore_index; int32 targets.
  tensor<std::int32_t> t32({5});
  const std::int32_t ids32[] = {2, 0, 7, 3, 7};
  std::copy(ids32, ids32 + 5, t32.data());
  for (const auto r : all_reductions) {
    tensor<double> g, per;
    ops::cross_entropy_loss(x, t32, &g, r, r == loss_reduction::none ? &per : nullptr, 7);
    testing::gradcheck_report report;
    testing::check_gradient(
        [&] {
          tensor<double> p;
          return ops::cross_entropy_loss(x, t32, nullptr, r, r == loss_reduction::none ? &p : nullptr, 7);
        },
        x.data(), g.data(), x.numel(), "x", {}, report);
    INFO("ignore_index=7 int32 reduction=" << name_of(r) << ": " << report.summary());
    CHECK(report.ok);
    CHECK(report.checked == x.numel());
  }
}

TEST_CASE("Losses match PyTorch F.mse_loss, l1_loss, binary_cross_entropy_with_logits, cross_entropy (float32)") {
  const auto f = test::golden("losses");
  const auto x = f.at("x").to_tensor<float>();
  const auto t = f.at("target").to_tensor<float>();
  check_parity(f, "mse", "mse_loss", [&](tensor<float>* dx, loss_reduction r, tensor<float>* per) {
    return ops::mse_loss(x, t, dx, r, per);
  });
  check_parity(f, "l1", "l1_loss",
               [&](tensor<float>* dx, loss_reduction r, tensor<float>* per) { return ops::l1_loss(x, t, dx, r, per); });
  const auto logits = f.at("logits").to_tensor<float>();
  const auto p = f.at("prob").to_tensor<float>();
  check_parity(f, "bce", "bce_with_logits_loss", [&](tensor<float>* dx, loss_reduction r, tensor<float>* per) {
    return ops::bce_with_logits_loss(logits, p, dx, r, per);
  });
  const auto ce_x = f.at("ce_x").to_tensor<float>();
  const auto ce_t = f.at("ce_target").to_tensor<std::int64_t>();
  check_parity(f, "ce", "cross_entropy_loss", [&](tensor<float>* dx, loss_reduction r, tensor<float>* per) {
    return ops::cross_entropy_loss(ce_x, ce_t, dx, r, per);
  });
}

TEST_CASE("L1 gradient at a tie is 0, like PyTorch's sign; BCE and CE stay finite on huge logits") {
  const auto f = test::golden("losses");
  const auto x = f.at("x").to_tensor<float>();
  const auto t = f.at("target").to_tensor<float>();
  tensor<float> dx;
  ops::l1_loss(x, t, &dx, loss_reduction::sum);
  REQUIRE(x[0] == t[0]);
  CHECK(dx[0] == 0.f);
  CHECK(dx[1] == 0.f);
  // x = ±1000 in float: the naive log(1 + exp(x)) overflows.
  tensor<float> big({4}), target({4});
  const float bx[] = {1000.f, -1000.f, 1000.f, -1000.f}, bt[] = {1.f, 0.f, 0.f, 1.f};
  std::copy(bx, bx + 4, big.data());
  std::copy(bt, bt + 4, target.data());
  tensor<float> per, g;
  ops::bce_with_logits_loss(big, target, &g, loss_reduction::none, &per);
  CHECK(per[0] == 0.f);
  CHECK(per[1] == 0.f);
  CHECK(per[2] == 1000.f);
  CHECK(per[3] == 1000.f);
  CHECK(g[0] == 0.f);
  CHECK(g[2] == 1.f);
  CHECK(g[3] == -1.f);
  tensor<float> logits({1, 3});
  logits[0] = 1e4f, logits[1] = -1e4f, logits[2] = 0.f;
  tensor<std::int64_t> cls({1}, 1);
  const double v = ops::cross_entropy_loss(logits, cls, &g);
  CHECK(v == doctest::Approx(2e4));
  CHECK(g[0] == 1.f);
  CHECK(g[1] == -1.f);
}

TEST_CASE("cross_entropy_loss in float (the vectorised path) agrees with the same loss in double") {
  // 1024 classes as a GPT prior's codebook, logits spread wide, rows ignored among them, odd row count.
  generator rng(21);
  const std::int64_t rows = 37, classes = 1024;
  auto x = test::random_tensor<float>({rows, classes}, rng, 4.0);
  tensor<double> xd({rows, classes});
  for (std::int64_t i = 0; i < x.numel(); ++i) xd[i] = x[i];
  tensor<std::int64_t> t({rows});
  for (std::int64_t i = 0; i < rows; ++i) t[i] = i % 5 == 3 ? default_ignore_index : rng.below(classes);
  for (const auto r : {loss_reduction::mean, loss_reduction::sum, loss_reduction::none}) {
    tensor<float> g, per;
    tensor<double> gd, perd;
    const double v = ops::cross_entropy_loss(x, t, &g, r, r == loss_reduction::none ? &per : nullptr);
    const double vd = ops::cross_entropy_loss(xd, t, &gd, r, r == loss_reduction::none ? &perd : nullptr);
    CHECK(v == doctest::Approx(vd).epsilon(1e-6));
    std::int64_t off = 0;
    for (std::int64_t i = 0; i < g.numel(); ++i) off += std::abs(g[i] - gd[i]) > 1e-7 + 1e-5 * std::abs(gd[i]);
    for (std::int64_t i = 0; i < per.numel(); ++i) off += std::abs(per[i] - perd[i]) > 1e-5 * std::max(1.0, perd[i]);
    CHECK(off == 0);
  }
}

TEST_CASE("Loss gradients are written, not accumulated; null dx computes the value only") {
  generator rng(3);
  auto x = test::random_tensor<float>({4, 3}, rng);
  auto t = test::random_tensor<float>({4, 3}, rng);
  tensor<float> dx1, dx2({4, 3}, 123.f);
  const double v1 = ops::mse_loss(x, t, &dx1);
  const double v2 = ops::mse_loss(x, t, &dx2);
  CHECK(v1 == v2);
  CHECK(v1 == ops::mse_loss(x, t));
  for (std::int64_t i = 0; i < x.numel(); ++i) CHECK(dx2[i] == dx1[i]);
  tensor<std::int64_t> cls({4}, 2);
  tensor<float> g1, g2({4, 3}, -5.f);
  ops::cross_entropy_loss(x, cls, &g1);
  ops::cross_entropy_loss(x, cls, &g2);
  for (std::int64_t i = 0; i < x.numel(); ++i) CHECK(g2[i] == g1[i]);
}

TEST_CASE("Loss reductions over many chunks agree with a plain double sum, and CE mean of no rows is NaN") {
  generator rng(4);
  const std::int64_t n = 1'000'003;  // not a multiple of the chunk size
  auto x = test::random_tensor<float>({n}, rng);
  auto t = test::random_tensor<float>({n}, rng);
  double plain = 0;
  for (std::int64_t i = 0; i < n; ++i) plain += std::abs(static_cast<double>(x[i]) - static_cast<double>(t[i]));
  CHECK(ops::l1_loss(x, t, nullptr, loss_reduction::sum) == doctest::Approx(plain).epsilon(1e-12));
  CHECK(ops::l1_loss(x, t) == doctest::Approx(plain / n).epsilon(1e-12));

  tensor<float> logits({2, 3}, 0.f), g;
  tensor<std::int64_t> ignored({2}, default_ignore_index);
  CHECK(std::isnan(ops::cross_entropy_loss(logits, ignored, &g)));
  for (const float v : g) CHECK(v == 0.f);
  CHECK(ops::cross_entropy_loss(logits, ignored, &g, loss_reduction::sum) == 0.0);
}

TEST_CASE("Losses reject mismatched shapes, bad targets and a missing per-element output") {
  tensor<float> x({2, 3}, 0.f), t({3, 2}, 0.f);
  CHECK_THROWS_WITH_AS(
      ops::mse_loss(x, t),
      doctest::Contains("mse_loss: input and target must have the same shape, got input [2, 3] and target [3, 2]"),
      vae::error);
  CHECK_THROWS_WITH_AS(ops::bce_with_logits_loss(x, t), doctest::Contains("bce_with_logits_loss"), vae::error);
  tensor<float> same({2, 3}, 0.f);
  CHECK_THROWS_WITH_AS(ops::l1_loss(x, same, nullptr, loss_reduction::none),
                       doctest::Contains("l1_loss: reduction none needs a tensor for the per-element losses"),
                       vae::error);
  tensor<std::int64_t> cls({3}, 0);
  CHECK_THROWS_WITH_AS(ops::cross_entropy_loss(x, cls),
                       doctest::Contains("expected logits [N, C] and target [N], got logits [2, 3] and target [3]"),
                       vae::error);
  tensor<std::int64_t> bad({2}, 0);
  bad[1] = 3;
  CHECK_THROWS_WITH_AS(ops::cross_entropy_loss(x, bad),
                       doctest::Contains("target 3 at position 1 is out of range for 3 classes"), vae::error);
  bad[1] = -1;
  CHECK_THROWS_WITH_AS(ops::cross_entropy_loss(x, bad), doctest::Contains("target -1 at position 1"), vae::error);
}
