// ResidualVQ: residual chain, tokens [L, N, h, w], one straight-through for the sum plus per-level commitment
// gradients (finite differences), per-level codebook gradients, lookup round trip, names, errors.
#include "vae/quantizers/residual_vq.hpp"

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Quantizer<ResidualVQ<float>>);

TEST_CASE("ResidualVQ quantizes successive residuals and sums the codes") {
  generator rng(1);
  ResidualVQ<double> q(3, 8, 2);
  parameter_store<double> store;
  store.attach(q, rng, "codebook.");
  CHECK(store.find("codebook.layers.2.weight") != nullptr);
  for (int i = 0; i < 3; ++i) rng.fill_normal(q.level(i).codebook().value, 16, 0.0, 1.0 / (1 << i));
  auto z = test::random_tensor<double>({2, 2, 2, 2}, rng);
  const tensor<double> zq = q.forward(z);
  REQUIRE(q.indices().shape() == shape{3, 2, 2, 2});
  double loss = 0;
  for (int i = 0; i < 3; ++i) {
    for (std::int64_t j = 0; j < 8; ++j) CHECK(q.indices()[i * 8 + j] == q.level(i).indices()[j]);
    loss += q.level(i).loss();
  }
  CHECK(q.loss() == doctest::Approx(loss));
  // r_{i+1} = r_i − e_i and z_q = z − r_3 + (r_2 − e_2) ... i.e. z − z_q is the last residual minus its code.
  tensor<double> e_last;
  tensor<std::int32_t> last({2, 2, 2});
  std::copy(q.indices().data() + 16, q.indices().data() + 24, last.data());
  q.level(2).lookup(last, e_last);
  for (std::int64_t j = 0; j < z.numel(); ++j)
    CHECK(z[j] - zq[j] == doctest::Approx(q.residual(2)[j] - e_last[j]));
  tensor<double> out;
  q.lookup(q.indices(), out);
  for (std::int64_t j = 0; j < zq.numel(); ++j) CHECK(out[j] == zq[j]);
}

TEST_CASE("ResidualVQ gradients: dz_e = dz_q + Σ commitment terms; each codebook gets its CodebookLoss (double)") {
  generator rng(2);
  ResidualVQ<double> q(2, 5, 3);
  parameter_store<double> store;
  store.attach(q, rng);
  for (int i = 0; i < 2; ++i) rng.fill_normal(q.level(i).codebook().value, 15, 0.0, 0.8 / (i + 1));
  auto z = test::random_tensor<double>({2, 3, 2, 1}, rng);
  auto r = test::random_tensor<double>({2, 3, 2, 1}, rng);
  q.set_training(false);
  q.forward(z);
  const tensor<std::int32_t> idx0 = q.indices();
  store.zero_grad();
  const tensor<double> dz = q.backward(r);
  const std::vector<double> grads(store.grads(), store.grads() + store.trainable_size());
  // The straight-through estimator of the sum is the identity: Σ r·z stands for Σ r·z_q around this point.
  auto encoder_side = [&] {
    q.forward(z);
    double s = q.level(0).term_value<CommitmentLoss>() + q.level(1).term_value<CommitmentLoss>();
    for (std::int64_t i = 0; i < z.numel(); ++i) s += r[i] * z[i];
    return s;
  };
  testing::gradcheck_report report;
  testing::check_gradient(encoder_side, z.data(), dz.data(), z.numel(), "z_e", {}, report);
  for (int i = 0; i < 2; ++i) {
    const auto* e = store.find("layers." + std::to_string(i) + ".weight");
    testing::check_gradient([&] { q.forward(z); return q.level(i).term_value<CodebookLoss>(); },
                            store.values() + e->offset, grads.data() + e->offset, e->shape.numel(), e->name, {}, report);
  }
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == z.numel() + 2 * 5 * 3);  // z_e and both 5 × 3 codebooks, every entry
  q.forward(z);
  for (std::int64_t i = 0; i < idx0.numel(); ++i) CHECK(q.indices()[i] == idx0[i]);  // the assignment did not move
}

TEST_CASE("ResidualVQ rejects projections and bad tokens") {
  quantizer_options opt;
  opt.cosine = true;
  CHECK_THROWS_AS(ResidualVQ<float>(2, 4, 3, opt), error);
  CHECK_THROWS_AS(ResidualVQ<float>(0, 4, 3), error);
  generator rng(3);
  ResidualVQ<float> q(2, 4, 3);
  parameter_store<float> store;
  store.attach(q, rng);
  tensor<std::int32_t> t({1, 1, 2, 2});
  tensor<float> out;
  CHECK_THROWS_WITH_AS(q.lookup(t, out), doctest::Contains("expected tokens [2, N, h, w], got [1, 1, 2, 2]"), error);
  tensor<float> z({1, 2, 2, 2});
  CHECK_THROWS_WITH_AS(q.forward(z), doctest::Contains("expected z_e [N, 3, h, w]"), error);
}
