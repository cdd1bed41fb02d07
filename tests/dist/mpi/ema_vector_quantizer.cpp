// Tests for the data-parallel EMA quantizer (quantizers/vector_quantizer.hpp, set_communicator) under mpiexec -n 2:
// k-means initialisation, EMA statistics and dead-code restarts on two ranks' halves of each batch against one
// quantizer on the whole batch.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "vae/core/parameters.hpp"
#include "vae/dist/mpi_communicator.hpp"
#include "vae/quantizers/ema_vector_quantizer.hpp"
#include "vae/quantizers/vector_quantizer.hpp"

namespace dist_ema_test {

vae::dist::mpi_communicator& world() {
  static vae::dist::mpi_communicator c(60.0);
  return c;
}

// Global batch `step`: [8, D, 2, 2] values from a formula (clusters around a few centres, so that k-means and the
// nearest-code choices are well separated); the clusters move by 5 per step, so codes fall out of use and restart).
vae::tensor<float> global_batch(int step, std::int64_t D) {
  vae::tensor<float> z(vae::shape{8, D, 2, 2});
  for (std::int64_t i = 0; i < z.numel(); ++i)
    z.data()[i] = static_cast<float>(std::sin(0.7 * static_cast<double>(i) + step) * 2.0 + ((i / 16) % 3) * 3.0 +
                                      5.0 * step);
  return z;
}
vae::tensor<float> rows_of(const vae::tensor<float>& z, std::int64_t n0, std::int64_t n1) {
  const std::int64_t per = z.numel() / z.dim(0);
  vae::tensor<float> out(vae::shape{n1 - n0, z.dim(1), z.dim(2), z.dim(3)});
  std::copy(z.data() + n0 * per, z.data() + n1 * per, out.data());
  return out;
}

template <class Q>
void check_against_one_process(bool ema, vae::restart_draw draw = vae::restart_draw::uniform) {
  auto& comm = world();
  REQUIRE(comm.size() == 2);
  const std::int64_t K = 6, D = 3;
  vae::quantizer_options o;
  o.kmeans_init = true;
  o.restart_after_steps = 1;
  o.restart_from = draw;
  o.seed = 5;
  Q shared(K, D, o), alone(K, D, o);
  vae::generator g1(1), g2(1);
  vae::parameter_store<float> s_shared, s_alone;
  s_shared.attach(shared, g1);
  s_alone.attach(alone, g2);
  shared.set_communicator(&comm);
  std::int64_t restarts = 0;
  for (int step = 0; step < 6; ++step) {
    const auto z = global_batch(step, D);
    const auto mine = rows_of(z, 4 * comm.rank(), 4 * comm.rank() + 4);
    const auto& zq_alone = alone.forward(z);
    const auto& zq_shared = shared.forward(mine);
    const auto expect = rows_of(zq_alone, 4 * comm.rank(), 4 * comm.rank() + 4);
    CHECK(std::equal(expect.begin(), expect.end(), zq_shared.begin()));
    restarts = alone.total_restarts();
    CHECK(shared.total_restarts() == restarts);
  }
  CHECK(restarts > 0);  // the case exercises restarts
  CHECK(shared.stats().codes_used() == alone.stats().codes_used());
  // Every buffer (codebook, EMA statistics, counters) equal to the one-process quantizer's, bit for bit: the
  // per-code sums are taken in double and added over 2 ranks before the float update.
  REQUIRE(s_shared.size() == s_alone.size());
  std::int64_t differ = 0;
  for (std::int64_t i = 0; i < s_shared.size(); ++i) differ += s_shared.values()[i] != s_alone.values()[i];
  CHECK_MESSAGE(differ == 0, (ema ? "EMA" : "plain"), " quantizer: ", differ, " values differ");
}

}  // namespace dist_ema_test

TEST_CASE("EMAVectorQuantizer, 2 ranks on halves of each batch: k-means, EMA and restarts as one process") {
  dist_ema_test::check_against_one_process<vae::EMAVectorQuantizer<float>>(true);
}

TEST_CASE("VectorQuantizer, 2 ranks: k-means and restarts as one process (the codebook's gradient is the trainer's)") {
  dist_ema_test::check_against_one_process<vae::VectorQuantizer<float>>(false);
}

TEST_CASE("EMAVectorQuantizer with a communicator refuses unequal shares") {
  auto& comm = dist_ema_test::world();
  vae::quantizer_options o;
  vae::EMAVectorQuantizer<float> q(4, 3, o);
  vae::generator g(1);
  vae::parameter_store<float> s;
  s.attach(q, g);
  q.set_communicator(&comm);
  const auto z = dist_ema_test::global_batch(0, 3);
  const auto mine = dist_ema_test::rows_of(z, 0, comm.rank() == 0 ? 4 : 3);
  CHECK_THROWS_WITH_AS(q.forward(mine), doctest::Contains("every rank needs the same number of rows"), vae::error);
}

TEST_CASE("EMAVectorQuantizer, 2 ranks: restarts drawn by squared error take the rows one process takes") {
  dist_ema_test::check_against_one_process<vae::EMAVectorQuantizer<float>>(true, vae::restart_draw::squared_error);
}

TEST_CASE("VectorQuantizer, 2 ranks: restarts drawn by squared error as one process") {
  dist_ema_test::check_against_one_process<vae::VectorQuantizer<float>>(false, vae::restart_draw::squared_error);
}
