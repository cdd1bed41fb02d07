// Weighting concept and the four schedules: ConstantBeta, LinearWarmup, CapacitySchedule (γ|KL − C(t)|), FreeBits.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "vae/core/error.hpp"
#include "vae/divergences/divergence.hpp"

namespace vae {

// The weighted divergence term of the loss for one batch: `value` is added to the batch-mean loss and
// `scale` is d value / d divergence_ij (row[i]·dim[j]), which the divergence's backward consumes.
struct penalty {
  double value = 0.0;
  divergence_scale scale;
};

// Weighting<W>: penalty(step, stats) from the divergence's statistics of the batch at optimisation step `step`
// (0-based). needs_per_dimension: the weighting reads stats.per_dim (FreeBits); a model pairs it only with a
// divergence whose per_dimension is true.
template <class W>
concept Weighting = requires(const W& w, std::int64_t step, const divergence_stats& s) {
  { w.penalty(step, s) } -> std::same_as<penalty>;
  { W::needs_per_dimension } -> std::convertible_to<bool>;
};

namespace detail {
inline penalty scaled_mean(const divergence_stats& s, double beta) {
  const auto n = s.per_row.size();
  check(n > 0, "Weighting::penalty: empty divergence statistics");
  penalty p;
  p.value = beta * s.mean();
  p.scale.row.assign(n, beta / static_cast<double>(n));
  return p;
}
}  // namespace detail

// β·mean_i D_i (β = 1: the ELBO).
struct ConstantBeta {
  static constexpr bool needs_per_dimension = false;
  double beta = 1.0;
  vae::penalty penalty(std::int64_t, const divergence_stats& s) const { return detail::scaled_mean(s, beta); }
};

// β(t)·mean_i D_i with β(t) = β_max·min(1, t/steps) (KL annealing; steps = 0: β_max from the start).
struct LinearWarmup {
  static constexpr bool needs_per_dimension = false;
  std::int64_t steps = 10000;
  double beta_max = 1.0;
  double beta(std::int64_t step) const {
    if (steps <= 0) return beta_max;
    return beta_max * std::min(1.0, static_cast<double>(std::max<std::int64_t>(step, 0)) / static_cast<double>(steps));
  }
  vae::penalty penalty(std::int64_t step, const divergence_stats& s) const { return detail::scaled_mean(s, beta(step)); }
};

// Burgess et al. 2018: γ·|mean_i D_i − C(t)|, C(t) = C_max·min(1, t/steps). At the kink the derivative is 0.
struct CapacitySchedule {
  static constexpr bool needs_per_dimension = false;
  double capacity_max = 25.0;
  std::int64_t steps = 100000;
  double gamma = 1000.0;
  double capacity(std::int64_t step) const {
    if (steps <= 0) return capacity_max;
    return capacity_max *
           std::min(1.0, static_cast<double>(std::max<std::int64_t>(step, 0)) / static_cast<double>(steps));
  }
  vae::penalty penalty(std::int64_t step, const divergence_stats& s) const {
    auto p = detail::scaled_mean(s, 1.0);
    const double gap = p.value - capacity(step);
    p.value = gamma * std::abs(gap);
    const double sign = gap > 0 ? 1.0 : (gap < 0 ? -1.0 : 0.0);
    for (auto& r : p.scale.row) r *= gamma * sign;
    return p;
  }
};

// Kingma et al. 2016 (free bits): β·Σ_j max(λ, (1/N) Σ_i D_ij): a dimension whose batch-mean divergence is below
// λ nats gets no gradient. Needs a divergence that decomposes per dimension (AnalyticGaussianKL).
struct FreeBits {
  static constexpr bool needs_per_dimension = true;
  double lambda = 0.5;
  double beta = 1.0;
  vae::penalty penalty(std::int64_t, const divergence_stats& s) const {
    check(!s.per_dim.empty(), "FreeBits::penalty: the divergence reported no per-dimension statistics");
    const auto n = s.per_row.size();
    check(n > 0, "FreeBits::penalty: empty divergence statistics");
    vae::penalty p;
    p.scale.row.assign(n, beta / static_cast<double>(n));
    p.scale.dim.resize(s.per_dim.size());
    for (std::size_t j = 0; j < s.per_dim.size(); ++j) {
      p.value += beta * std::max(lambda, s.per_dim[j]);
      p.scale.dim[j] = s.per_dim[j] > lambda ? 1.0 : 0.0;
    }
    return p;
  }
};

}  // namespace vae
