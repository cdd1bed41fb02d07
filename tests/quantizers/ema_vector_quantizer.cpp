// EMAVectorQuantizer: a hand-computed EMA step, buffers (not trainable), commitment-only gradient, restart resets state.
#include "vae/quantizers/ema_vector_quantizer.hpp"

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Quantizer<EMAVectorQuantizer<float>>);

TEST_CASE("EMAVectorQuantizer codebook and moving averages are non-trainable buffers with stable names") {
  generator rng(0);
  EMAVectorQuantizer<float> q(5, 3);
  parameter_store<float> store;
  store.attach(q, rng, "codebook.");
  CHECK(store.trainable_size() == 0);
  for (const char* name : {"codebook.weight", "codebook.ema_cluster_size", "codebook.ema_embed_sum", "codebook.initted"}) {
    CAPTURE(name);
    REQUIRE(store.find(name) != nullptr);
    CHECK_FALSE(store.find(name)->trainable);
  }
  CHECK(q.codebook().grad == nullptr);
}

TEST_CASE("EMAVectorQuantizer performs the hand-computed EMA step (decay 0.99, Laplace eps 1e-5)") {
  generator rng(1);
  EMAVectorQuantizer<double> q(3, 2);
  parameter_store<double> store;
  store.attach(q, rng);
  const double E0[3][2] = {{0, 0}, {2, 0}, {0, 3}};
  std::copy(&E0[0][0], &E0[0][0] + 6, q.codebook().value);
  // Four positions: three near code 0 and one near code 1; code 2 unused. z layout [1, 2, 1, 4].
  const double zx[] = {0.2, -0.1, 0.1, 1.8}, zy[] = {0.1, 0.3, -0.2, 0.4};
  tensor<double> z({1, 2, 1, 4});
  std::copy(zx, zx + 4, z.data());
  std::copy(zy, zy + 4, z.data() + 4);
  q.set_training(true);
  const tensor<double> zq = q.forward(z);
  // z_q and the loss come from the pre-update codebook.
  const int expect_idx[] = {0, 0, 0, 1};
  double se = 0;
  for (int p = 0; p < 4; ++p) {
    CHECK(q.indices()[p] == expect_idx[p]);
    CHECK(zq[p] == E0[expect_idx[p]][0]);
    CHECK(zq[4 + p] == E0[expect_idx[p]][1]);
    se += std::pow(zx[p] - E0[expect_idx[p]][0], 2) + std::pow(zy[p] - E0[expect_idx[p]][1], 2);
  }
  CHECK(q.loss() == doctest::Approx(0.25 * se / 8));
  // Hand computation: N = 0.99·1 + 0.01·n, S = 0.99·E0 + 0.01·Σz, Ñ = (N + ε)/(ΣN + 3ε)·ΣN, E = S/Ñ.
  const double n_new[3] = {0.99 + 0.01 * 3, 0.99 + 0.01 * 1, 0.99};
  const double sum_z[3][2] = {{0.2 - 0.1 + 0.1, 0.1 + 0.3 - 0.2}, {1.8, 0.4}, {0, 0}};
  const double total = n_new[0] + n_new[1] + n_new[2], eps = 1e-5;
  for (int k = 0; k < 3; ++k) {
    CHECK(q.ema_cluster_size().value[k] == doctest::Approx(n_new[k]).epsilon(1e-12));
    const double smoothed = (n_new[k] + eps) / (total + 3 * eps) * total;
    for (int j = 0; j < 2; ++j) {
      const double s = 0.99 * E0[k][j] + 0.01 * sum_z[k][j];
      CHECK(q.ema_embed_sum().value[k * 2 + j] == doctest::Approx(s).epsilon(1e-12));
      CHECK(q.codebook().value[k * 2 + j] == doctest::Approx(s / smoothed).epsilon(1e-12));
    }
  }
  // Evaluation leaves the codebook alone.
  const std::vector<double> after(q.codebook().value, q.codebook().value + 6);
  q.set_training(false);
  q.forward(z);
  for (int i = 0; i < 6; ++i) CHECK(q.codebook().value[i] == after[i]);
}

TEST_CASE("EMAVectorQuantizer gradient: straight-through plus the commitment term only (double, finite differences)") {
  quantizer_options plain, proj;
  proj.codebook_dim = 2;  // trainable in/out projections around an EMA codebook
  proj.cosine = true;
  for (const auto& opt : {plain, proj}) {
    CAPTURE(opt.codebook_dim);
    generator rng(2);
    EMAVectorQuantizer<double> q(6, 3, opt);
    parameter_store<double> store;
    store.attach(q, rng);
    rng.fill_normal(q.codebook().value, q.codebook().numel(), 0.0, 0.8);
    auto z = test::random_tensor<double>({2, 3, 2, 2}, rng);
    auto r = test::random_tensor<double>({2, 3, 2, 2}, rng);
    q.set_training(false);
    q.forward(z);
    store.zero_grad();
    const tensor<double> dz = q.backward(r);
    const std::vector<double> grads(store.grads(), store.grads() + store.trainable_size());
    q.set_frozen_assignment(true);
    auto f = [&] {
      const auto& y = q.forward(z);
      double s = 0;
      for (std::int64_t i = 0; i < y.numel(); ++i) s += y[i] * r[i];
      return s + q.loss();
    };
    testing::gradcheck_report report;
    testing::check_gradient(f, z.data(), dz.data(), z.numel(), "z_e", {}, report);
    for (const auto& e : store.entries())
      if (e.trainable)
        testing::check_gradient(f, store.values() + e.offset, grads.data() + e.offset, e.shape.numel(), e.name, {},
                                report);
    INFO(report.summary());
    CHECK(report.ok);
    CHECK(store.trainable_size() == (opt.codebook_dim ? 2 * 3 + 2 + 3 * 2 + 3 : 0));
    CHECK(report.checked == z.numel() + store.trainable_size());  // every entry once (all tensors under 96)
    CHECK(q.loss() == doctest::Approx(q.term_value<CommitmentLoss>()));
  }
}

TEST_CASE("EMAVectorQuantizer dead-code restart re-seeds the code and resets its moving averages") {
  quantizer_options opt;
  opt.restart_after_steps = 2;
  generator rng(3);
  EMAVectorQuantizer<double> q(2, 1, opt);
  parameter_store<double> store;
  store.attach(q, rng);
  q.codebook().value[0] = 0.0;
  q.codebook().value[1] = 100.0;
  tensor<double> z({1, 1, 1, 3});
  z[0] = 0.5, z[1] = 0.7, z[2] = 0.6;
  q.set_training(true);
  q.forward(z);
  CHECK(q.total_restarts() == 0);
  q.forward(z);
  CHECK(q.total_restarts() == 1);
  const double e = q.codebook().value[1];
  CHECK((e == 0.5 || e == 0.7 || e == 0.6));
  CHECK(q.ema_cluster_size().value[1] == 1.0);
  CHECK(q.ema_embed_sum().value[1] == e);
}
