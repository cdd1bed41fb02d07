// Weighting schedules: values, β/capacity schedules, and the derivative scales vs finite differences of the penalty.
#include <vector>

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"
#include "vae/weighting/weighting.hpp"

using namespace vae;

static_assert(Weighting<ConstantBeta> && Weighting<LinearWarmup> && Weighting<CapacitySchedule> && Weighting<FreeBits>);
static_assert(FreeBits::needs_per_dimension && !ConstantBeta::needs_per_dimension);

namespace {
// stats from a per-element matrix v [N, D]: per_row = row sums, per_dim = column means.
divergence_stats stats_of(const std::vector<double>& v, std::size_t n, std::size_t d) {
  divergence_stats s;
  s.per_row.assign(n, 0.0);
  s.per_dim.assign(d, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j) {
      s.per_row[i] += v[i * d + j];
      s.per_dim[j] += v[i * d + j] / static_cast<double>(n);
    }
  return s;
}

// d penalty / d v_ij from scale (row·dim) vs central differences of the penalty in each element (step 1e-6,
// |analytic − numeric| ≤ 1e-7·(1 + max of their magnitudes)), every element checked.
template <class W>
void check_scales(const W& w, std::int64_t step, std::vector<double> v, std::size_t n, std::size_t d) {
  const auto p = w.penalty(step, stats_of(v, n, d));
  std::vector<double> analytic(n * d);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j) analytic[i * d + j] = p.scale.row[i] * (p.scale.dim.empty() ? 1.0 : p.scale.dim[j]);
  testing::gradcheck_options opt;
  opt.atol = opt.rtol = 1e-7;
  testing::gradcheck_report report;
  testing::check_gradient([&] { return w.penalty(step, stats_of(v, n, d)).value; }, v.data(), analytic.data(),
                          static_cast<std::int64_t>(v.size()), "v", opt, report);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == static_cast<std::int64_t>(n * d));
}
const std::vector<double> kl = {0.1, 2.0, 0.3, 0.05, 1.5, 0.2};  // N = 2, D = 3
}  // namespace

TEST_CASE("ConstantBeta and LinearWarmup: β·mean KL with β(t) = β_max·min(1, t/steps)") {
  const auto s = stats_of(kl, 2, 3);
  CHECK(ConstantBeta{0.5}.penalty(0, s).value == doctest::Approx(0.5 * (2.4 + 1.75) / 2));
  LinearWarmup w{100, 2.0};
  CHECK(w.beta(0) == 0.0);
  CHECK(w.beta(50) == doctest::Approx(1.0));
  CHECK(w.beta(500) == doctest::Approx(2.0));
  CHECK(w.penalty(25, s).value == doctest::Approx(0.5 * (2.4 + 1.75) / 2));
  check_scales(ConstantBeta{0.7}, 0, kl, 2, 3);
  check_scales(w, 30, kl, 2, 3);
}

TEST_CASE("CapacitySchedule: γ|mean KL − C(t)| and its sign-switching derivative") {
  const auto s = stats_of(kl, 2, 3);  // mean KL 2.075
  CapacitySchedule c{10.0, 100, 5.0};
  CHECK(c.capacity(10) == doctest::Approx(1.0));
  CHECK(c.penalty(10, s).value == doctest::Approx(5.0 * 1.075));
  CHECK(c.penalty(50, s).value == doctest::Approx(5.0 * (5.0 - 2.075)));
  check_scales(c, 10, kl, 2, 3);  // above capacity
  check_scales(c, 50, kl, 2, 3);  // below capacity: the gradient pushes KL up
  CHECK(c.penalty(50, s).scale.row[0] < 0);
}

TEST_CASE("FreeBits: β·Σ_j max(λ, batch-mean KL_j); dimensions under λ get no gradient") {
  const auto s = stats_of(kl, 2, 3);  // per_dim = 0.075, 1.75, 0.25
  FreeBits fb{0.2, 1.0};
  const auto p = fb.penalty(0, s);
  CHECK(p.value == doctest::Approx(0.2 + 1.75 + 0.25));
  CHECK(p.scale.dim == std::vector<double>{0.0, 1.0, 1.0});
  check_scales(fb, 0, kl, 2, 3);
  check_scales(FreeBits{0.1, 0.5}, 0, kl, 2, 3);
  divergence_stats no_dims;
  no_dims.per_row = {1.0};
  CHECK_THROWS_WITH_AS(fb.penalty(0, no_dims), doctest::Contains("no per-dimension statistics"), error);
}
