// Tests for BatchNorm2d::set_communicator (SyncBatchNorm) under mpiexec -n 2: each rank holds half of every global
// batch; y, dx, the parameter gradients averaged as the trainer averages them, and the running statistics against one
// BatchNorm2d over the whole batch on each rank.
#include <doctest/doctest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

#include "vae/core/concepts.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/rng.hpp"
#include "vae/dist/mpi_communicator.hpp"
#include "vae/layers/batch_norm2d.hpp"

namespace dist_batch_norm2d_test {

vae::dist::mpi_communicator& world() {
  static vae::dist::mpi_communicator c(60.0);
  return c;
}

// Global batch `step`: dyadic values k/8 (with 16 values per channel every double sum the layer takes is exact, in
// any order) or normal random ones (the same on every rank: one seeded generator).
vae::tensor<float> global_batch(int step, bool dyadic, vae::shape s) {
  vae::tensor<float> t(s);
  if (dyadic) {
    for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>((i * 5 + step * 11) % 19 - 9) / 8.f;
  } else {
    vae::generator g(100 + static_cast<std::uint64_t>(step));
    g.fill_normal(t.data(), t.numel(), 0.5, 2.0);
  }
  return t;
}
vae::tensor<float> rows_of(const vae::tensor<float>& z, std::int64_t n0, std::int64_t n1, float scale = 1.f) {
  const std::int64_t per = z.numel() / z.dim(0);
  vae::tensor<float> out(vae::shape{n1 - n0, z.dim(1), z.dim(2), z.dim(3)});
  for (std::int64_t i = 0; i < out.numel(); ++i) out[i] = z[n0 * per + i] * scale;
  return out;
}

// |a − b| ≤ tol(b) for every element; returns how many differ at all (for the message).
template <class F>
std::int64_t require_near(const float* a, const float* b, std::int64_t n, F tol, const char* what) {
  std::int64_t differ = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    differ += a[i] != b[i];
    CHECK_MESSAGE(std::abs(a[i] - b[i]) <= tol(i), what, "[", i, "]: ", a[i], " vs ", b[i]);
  }
  return differ;
}

// Two ranks, each a BatchNorm2d with the communicator on its half of the global batch, against one BatchNorm2d on the
// whole batch (on every rank, the same), over 3 training steps and one eval step. The loss is the trainer's: the mean
// over rows of Σ y·R, so one process's dy is R/B and rank r's (the mean over its B/2 rows) is R_r·2/B; the rank's dx
// is then 2 × one process's (the gradient of the sum of both ranks' losses, see batch_norm2d.hpp), and the weight
// and bias gradients averaged over the ranks (dist::allreduce_mean, as the trainer) are one process's.
void check_against_one_process(bool dyadic) {
  auto& comm = world();
  REQUIRE(comm.size() == 2);
  const std::int64_t B = 4, half = 2, r0 = half * comm.rank();
  const vae::shape xs{B, 3, 2, 2};
  vae::BatchNorm2d<float> shared(3), alone(3);
  vae::generator g1(1), g2(1);
  vae::parameter_store<float> s_shared, s_alone;
  s_shared.attach(shared, g1);
  s_alone.attach(alone, g2);
  for (auto* s : {&s_shared, &s_alone}) {  // weight, bias: not the identity
    vae::generator g(3);
    g.fill_normal(s->values(), 6, 1.0, 0.5);
  }
  vae::set_communicator(shared, &comm);
  std::int64_t inexact_y = 0, inexact_dx = 0, inexact_grad = 0, inexact_buffer = 0;  // values not bit-identical
  for (int step = 0; step < 4; ++step) {
    const bool training = step < 3;
    shared.set_training(training);
    alone.set_training(training);
    const auto x = global_batch(step, dyadic, xs), R = global_batch(10 + step, dyadic, xs);
    const auto mine = rows_of(x, r0, r0 + half);
    const auto dy_alone = rows_of(R, 0, B, 1.f / B), dy_mine = rows_of(R, r0, r0 + half, 2.f / B);
    const auto& y_alone = alone.forward(x);
    const auto& y_shared = shared.forward(mine);
    s_alone.zero_grad();
    s_shared.zero_grad();
    const auto& dx_alone = alone.backward(dy_alone);
    const auto& dx_shared = shared.backward(dy_mine);
    // dx is 2 × one process's: training through the global statistics; eval (each rank alone, running statistics)
    // because dy_mine is 2 × dy_alone's rows and dx = rstd·w·dy.
    const auto expect_y = rows_of(y_alone, r0, r0 + half), expect_dx = rows_of(dx_alone, r0, r0 + half, 2.f);
    const auto& grads_alone = s_alone.grads();
    std::vector<float> grads(s_shared.grads(), s_shared.grads() + 6), both(12);
    comm.allgather(grads.data(), 6, both.data());
    vae::dist::allreduce_mean(comm, std::span<float>(grads));
    INFO("step ", step, dyadic ? " (dyadic data)" : " (random data)");
    if (dyadic) {  // every sum exact: the same bits as one process
      CHECK(std::equal(expect_y.begin(), expect_y.end(), y_shared.begin()));
      CHECK(std::equal(expect_dx.begin(), expect_dx.end(), dx_shared.begin()));
      CHECK(std::equal(grads.begin() + 3, grads.end(), grads_alone + 3));  // dbias: sums of dyadic dy, exact
    } else {
      // The double sums add in another order (each rank's, then the two): the float mean or rstd may round 1 ulp
      // apart, which moves y and dx by a few float ulps of their terms (all O(1) here): 4·2⁻²³·(|value| + 1).
      inexact_y += require_near(
          y_shared.data(), expect_y.data(), expect_y.numel(),
          [&](std::int64_t i) { return 4 * FLT_EPSILON * (std::abs(expect_y[i]) + 1); }, "y");
      inexact_dx += require_near(
          dx_shared.data(), expect_dx.data(), expect_dx.numel(),
          [&](std::int64_t i) { return 4 * FLT_EPSILON * (std::abs(expect_dx[i]) + 1); }, "dx");
    }
    // Weight and bias gradients: each rank's is rounded to float, then the trainer's average adds them in float:
    // three roundings against one process's one, each ≤ 2⁻²⁴ of the terms (|g₀| + |g₁|, halved by the mean).
    inexact_grad += require_near(
        grads.data(), grads_alone, 6,
        [&](std::int64_t i) { return 4 * FLT_EPSILON * (std::abs(both[i]) + std::abs(both[6 + i])) + 1e-7f; },
        "weight/bias gradient");
    // Buffers: running_mean, running_var from the same global statistics (exact on dyadic data; random: the
    // statistics in double, the update rounded to float once), num_batches_tracked counted once per forward.
    const float* v_shared = s_shared.values() + 6;
    const float* v_alone = s_alone.values() + 6;
    if (dyadic) {
      CHECK(std::equal(v_shared, v_shared + 7, v_alone));
    } else {
      inexact_buffer += require_near(
          v_shared, v_alone, 7, [&](std::int64_t i) { return 2 * FLT_EPSILON * std::abs(v_alone[i]); }, "buffer");
    }
    CHECK(v_shared[6] == static_cast<float>(std::min(step + 1, 3)));
    // Every rank holds the same buffers, bit for bit.
    std::vector<float> all(14);
    comm.allgather(v_shared, 7, all.data());
    CHECK(std::equal(all.begin(), all.begin() + 7, all.begin() + 7));
  }
  MESSAGE((dyadic ? "dyadic" : "random"), " data, rank ", comm.rank(), ", values not bit-identical to one process: y ",
          inexact_y, " of 96, dx ", inexact_dx, " of 96, weight/bias gradients ", inexact_grad, " of 24, buffers ",
          inexact_buffer, " of 28");
}

}  // namespace dist_batch_norm2d_test

TEST_CASE("BatchNorm2d with an MPI communicator, 2 ranks on halves of each batch: exact on dyadic data") {
  dist_batch_norm2d_test::check_against_one_process(true);
}

TEST_CASE("BatchNorm2d with an MPI communicator, 2 ranks on halves of each batch: to float rounding on random data") {
  dist_batch_norm2d_test::check_against_one_process(false);
}
