// VectorQuantizer: PyTorch parity, finite differences (straight-through, cosine, projections), loss-term routing,
// accumulation, k-means init, dead-code restart, epoch statistics, shape errors, options refused on device backends.
#include "vae/quantizers/vector_quantizer.hpp"
#include "vae/quantizers/ema_vector_quantizer.hpp"

#include <set>

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Quantizer<VectorQuantizer<float>>);
static_assert(Quantizer<VectorQuantizer<double>>);

namespace {
std::vector<double> param_grad(parameter<double>& p) { return {p.grad, p.grad + p.numel()}; }

// Finite differences of the straight-through estimator with the assignment frozen (see set_frozen_assignment):
// z_e and in_proj see Σ r·z_q + CommitmentLoss (the codebook term stops gradient to them); the codebook sees
// Σ r·z_q + CodebookLoss; out_proj sees Σ r·z_q. backward(r) must give all of these at once.
template <class Q>
testing::gradcheck_report check_vq(Q& q, parameter_store<double>& store, tensor<double>& z) {
  generator rng(99);
  q.set_training(false);
  auto r = test::random_tensor<double>(q.forward(z).shape(), rng);
  store.zero_grad();
  const tensor<double> dz = q.backward(r);
  const std::vector<double> grads(store.grads(), store.grads() + store.trainable_size());
  q.set_frozen_assignment(true);
  auto out_dot_r = [&] {
    const auto& y = q.forward(z);
    double s = 0;
    for (std::int64_t i = 0; i < y.numel(); ++i) s += y[i] * r[i];
    return s;
  };
  auto encoder_side = [&] { return out_dot_r() + q.template term_value<CommitmentLoss>(); };
  auto codebook_side = [&] { return out_dot_r() + q.template term_value<CodebookLoss>(); };
  testing::gradcheck_report report;
  testing::check_gradient(encoder_side, z.data(), dz.data(), z.numel(), "z_e", {}, report);
  for (const auto& e : store.entries()) {
    if (!e.trainable) continue;
    const bool cb = e.name == "weight";
    testing::check_gradient(cb ? std::function<double()>(codebook_side) : std::function<double()>(encoder_side),
                            store.values() + e.offset, grads.data() + e.offset, e.shape.numel(), e.name, {}, report);
  }
  q.set_frozen_assignment(false);
  return report;
}
}  // namespace

TEST_CASE("VectorQuantizer matches the PyTorch reference (distances, indices, loss, z_q, dz_e, dcodebook)") {
  const auto f = test::golden("vq");
  generator rng(0);
  VectorQuantizer<float> q(6, 4);
  parameter_store<float> store;
  store.attach(q, rng);
  test::load_into(q.codebook(), f, "codebook");
  const auto z = f.at("z").to_tensor<float>();
  const auto r = f.at("r").to_tensor<float>();
  q.set_keep_distances(true);
  test::require_parity(q.forward(z), f, "zq", "VQ z_q");
  test::require_parity(q.distances(), f, "distances", "VQ distances");
  const auto expected_idx = f.at("indices").values<std::int32_t>();
  REQUIRE(q.indices().shape() == shape{2, 3, 3});
  for (std::int64_t i = 0; i < 18; ++i) CHECK(q.indices()[i] == expected_idx[i]);
  CHECK(q.loss() == doctest::Approx(f.at("loss").values<double>()[0]).epsilon(1e-5));
  store.zero_grad();
  test::require_parity(q.backward(r), f, "dz", "VQ dz_e");
  tensor<float> dE(q.codebook().shape);
  std::copy(q.codebook().grad, q.codebook().grad + dE.numel(), dE.data());
  test::require_parity(dE, f, "dcodebook", "VQ dcodebook");
}

TEST_CASE("VectorQuantizer straight-through gradients match finite differences (double)") {
  struct variant {
    const char* name;
    quantizer_options opt;
  };
  quantizer_options plain, cosine, proj, both;
  cosine.cosine = true;
  proj.codebook_dim = 3;
  both.cosine = true;
  both.codebook_dim = 2;
  for (const auto& v : {variant{"plain", plain}, variant{"cosine", cosine}, variant{"projection", proj},
                        variant{"cosine+projection", both}}) {
    CAPTURE(v.name);
    generator rng(3);
    VectorQuantizer<double> q(7, 5, v.opt);
    parameter_store<double> store;
    store.attach(q, rng);
    rng.fill_normal(q.codebook().value, q.codebook().numel(), 0.0, 0.7);
    auto z = test::random_tensor<double>({2, 5, 3, 2}, rng);
    const auto report = check_vq(q, store, z);
    INFO(report.summary());
    CHECK(report.ok);
    CHECK(report.checked == test::layer_checks(z, store));  // z_e and every trainable tensor, each entry once
    std::set<std::int32_t> used(q.indices().begin(), q.indices().end());
    CHECK(used.size() >= 2);  // the check covers more than one code
  }
}

TEST_CASE("VectorQuantizer loss terms route: CodebookLoss → codebook only, CommitmentLoss → encoder only") {
  quantizer_options opt;
  opt.codebook_dim = 3;  // in_proj is on the encoder side: it must get the commitment gradient only
  generator rng(5);
  VectorQuantizer<double> q(6, 4, opt);
  parameter_store<double> store;
  store.attach(q, rng);
  rng.fill_normal(q.codebook().value, q.codebook().numel(), 0.0, 0.7);
  auto z = test::random_tensor<double>({2, 4, 2, 2}, rng);
  q.forward(z);
  CHECK(q.loss() == doctest::Approx(q.term_value<CodebookLoss>() + q.term_value<CommitmentLoss>()));
  CHECK(q.term_value<CommitmentLoss>() == doctest::Approx(0.25 * q.term_value<CodebookLoss>()));

  auto nonzero = [](const double* p, std::int64_t n) {
    return std::any_of(p, p + n, [](double v) { return v != 0.0; });
  };
  store.zero_grad();
  const tensor<double> dz_cb = q.backward_term<CodebookLoss>();
  CHECK_FALSE(nonzero(dz_cb.data(), dz_cb.numel()));
  CHECK(nonzero(q.codebook().grad, q.codebook().numel()));
  CHECK_FALSE(nonzero(q.in_proj()->weight().grad, q.in_proj()->weight().numel()));
  CHECK_FALSE(nonzero(q.out_proj()->weight().grad, q.out_proj()->weight().numel()));
  const auto g_cb = param_grad(q.codebook());

  store.zero_grad();
  const tensor<double> dz_cm = q.backward_term<CommitmentLoss>();
  CHECK(nonzero(dz_cm.data(), dz_cm.numel()));
  CHECK(nonzero(q.in_proj()->weight().grad, q.in_proj()->weight().numel()));
  CHECK_FALSE(nonzero(q.codebook().grad, q.codebook().numel()));
  CHECK_FALSE(nonzero(q.out_proj()->weight().grad, q.out_proj()->weight().numel()));

  // Each term's gradient is the finite difference of that term in the tensor it reaches.
  q.set_frozen_assignment(true);
  testing::gradcheck_report report;
  testing::check_gradient([&] { q.forward(z); return q.term_value<CodebookLoss>(); }, q.codebook().value, g_cb.data(),
                          q.codebook().numel(), "codebook", {}, report);
  testing::check_gradient([&] { q.forward(z); return q.term_value<CommitmentLoss>(); }, z.data(), dz_cm.data(),
                          z.numel(), "z_e", {}, report);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == q.codebook().numel() + z.numel());
}

TEST_CASE("VectorQuantizer backward accumulates (+=) codebook and projection gradients") {
  quantizer_options opt;
  opt.codebook_dim = 2;
  generator rng(6);
  VectorQuantizer<double> q(5, 3, opt);
  parameter_store<double> store;
  store.attach(q, rng);
  auto z = test::random_tensor<double>({1, 3, 2, 3}, rng);
  auto dy = test::random_tensor<double>({1, 3, 2, 3}, rng);
  store.zero_grad();
  q.forward(z);
  const tensor<double> dz1 = q.backward(dy);
  const std::vector<double> once(store.grads(), store.grads() + store.trainable_size());
  const tensor<double> dz2 = q.backward(dy);
  for (std::int64_t i = 0; i < store.trainable_size(); ++i) CHECK(store.grads()[i] == doctest::Approx(2 * once[i]));
  for (std::int64_t i = 0; i < dz1.numel(); ++i) CHECK(dz2[i] == doctest::Approx(dz1[i]));  // dz_e is written
}

TEST_CASE("VectorQuantizer k-means initialisation finds well-separated clusters on the first training batch") {
  quantizer_options opt;
  opt.kmeans_init = true;
  opt.seed = 4;
  generator rng(7);
  VectorQuantizer<double> q(3, 2, opt);
  parameter_store<double> store;
  store.attach(q, rng);
  CHECK(store.find("initted") != nullptr);
  const double centres[3][2] = {{5, 0}, {-5, 5}, {0, -6}};
  tensor<double> z({1, 2, 6, 5});  // 30 positions, 10 per cluster
  for (std::int64_t p = 0; p < 30; ++p)
    for (int c = 0; c < 2; ++c) z[c * 30 + p] = centres[p % 3][c] + 0.1 * rng.normal();
  q.set_training(false);
  q.forward(z);
  CHECK_FALSE(q.initialised());  // evaluation never initialises
  q.set_training(true);
  q.forward(z);
  CHECK(q.initialised());
  for (const auto& c : centres) {
    double best = 1e9;
    for (int k = 0; k < 3; ++k)
      best = std::min(best, std::hypot(q.codebook().value[k * 2] - c[0], q.codebook().value[k * 2 + 1] - c[1]));
    CHECK(best < 0.1);
  }
  CHECK(q.loss() < 0.05);  // every position sits next to its code
  std::vector<double> after(q.codebook().value, q.codebook().value + 6);
  q.forward(z);  // done once: a second training batch does not re-run k-means
  for (int i = 0; i < 6; ++i) CHECK(q.codebook().value[i] == after[i]);
}

TEST_CASE("VectorQuantizer re-seeds a code starved for restart_after_steps training steps and counts it") {
  quantizer_options opt;
  opt.restart_after_steps = 3;
  generator rng(8);
  VectorQuantizer<double> q(3, 2, opt);
  parameter_store<double> store;
  store.attach(q, rng);
  const double codes[] = {0, 0, 1, 0, 50, 50};  // code 2 is far from every input
  std::copy(codes, codes + 6, q.codebook().value);
  tensor<double> z({1, 2, 1, 4});
  const double xs[] = {0.1, 0.9, 0.0, 1.1}, ys[] = {0.0, 0.1, -0.1, 0.0};
  std::copy(xs, xs + 4, z.data());
  std::copy(ys, ys + 4, z.data() + 4);
  q.set_training(true);
  q.forward(z);
  q.forward(z);
  CHECK(q.unused_steps().value[2] == 2);
  CHECK(q.total_restarts() == 0);
  CHECK(q.codebook().value[4] == 50);
  q.forward(z);  // third starved step → restart
  CHECK(q.total_restarts() == 1);
  CHECK(q.stats().restarts() == 1);
  CHECK(q.unused_steps().value[2] == 0);
  bool seeded_from_input = false;
  for (int p = 0; p < 4; ++p)
    seeded_from_input |= q.codebook().value[4] == xs[p] && q.codebook().value[5] == ys[p];
  CHECK(seeded_from_input);
  q.set_training(false);
  for (int i = 0; i < 5; ++i) q.forward(z);  // evaluation neither ages nor restarts codes
  CHECK(q.total_restarts() == 1);
}

namespace {
// 20 rows close to code 0 (the "background", squared error ≤ 2e-4 each) and two rows far from every code (error 25
// each); codes 1..3 sit out of reach, so after one training step all three restart. Returns how many of the two far
// rows became codes.
template <class Q>
int far_rows_taken(restart_draw draw, std::uint64_t seed) {
  quantizer_options opt;
  opt.restart_after_steps = 1;
  opt.restart_from = draw;
  opt.seed = seed;
  generator rng(1);
  Q q(4, 2, opt);
  parameter_store<double> store;
  store.attach(q, rng);
  const double codes[] = {0, 0, 100, 100, 100, 100, 100, 100};
  std::copy(codes, codes + 8, q.codebook().value);
  tensor<double> z({1, 2, 1, 22});
  for (int r = 0; r < 20; ++r) {
    z.data()[r] = 0.01 * ((r % 3) - 1);
    z.data()[22 + r] = 0.01 * ((r % 2) ? 1 : -1);
  }
  z.data()[20] = 5;   // far row (5, 0)
  z.data()[42] = 0;
  z.data()[21] = 0;   // far row (0, 5)
  z.data()[43] = 5;
  q.set_training(true);
  q.forward(z);
  CHECK(q.total_restarts() == 3);
  int taken = 0;
  for (int k = 1; k < 4; ++k) {
    const double x = q.codebook().value[2 * k], y = q.codebook().value[2 * k + 1];
    taken += (x == 5 && y == 0) + (x == 0 && y == 5);
  }
  return taken;
}
}  // namespace

TEST_CASE("dead-code restarts drawn by squared error take the rows the codebook serves worst; uniform draws do not") {
  // The two far rows hold all but 0.02% of the batch's squared error: every seed re-seeds two of the three codes on
  // them (the third on a background row: a taken row leaves the draw). A uniform draw takes each row alike, so it
  // rarely takes both (about 1 seed in 77).
  int error_both = 0, uniform_both = 0;
  for (std::uint64_t seed = 0; seed < 10; ++seed) {
    error_both += far_rows_taken<VectorQuantizer<double>>(restart_draw::squared_error, seed) == 2;
    error_both += far_rows_taken<EMAVectorQuantizer<double>>(restart_draw::squared_error, seed) == 2;
    uniform_both += far_rows_taken<VectorQuantizer<double>>(restart_draw::uniform, seed) == 2;
  }
  CHECK(error_both == 20);
  CHECK(uniform_both <= 1);
}

TEST_CASE("dead-code restarts drawn by squared error fall back to any row when every row sits on its code") {
  quantizer_options opt;
  opt.restart_after_steps = 1;
  opt.restart_from = restart_draw::squared_error;
  generator rng(1);
  VectorQuantizer<double> q(2, 1, opt);
  parameter_store<double> store;
  store.attach(q, rng);
  q.codebook().value[0] = 3;
  q.codebook().value[1] = 100;
  tensor<double> z({1, 1, 1, 4}, 3.0);  // no error anywhere
  q.set_training(true);
  q.forward(z);
  CHECK(q.total_restarts() == 1);
  CHECK(q.codebook().value[1] == 3);
}

TEST_CASE("codebook_stats accumulates usage over the epoch, not per batch") {
  generator rng(9);
  VectorQuantizer<double> q(4, 1);
  parameter_store<double> store;
  store.attach(q, rng);
  const double codes[] = {0, 1, 2, 3};
  std::copy(codes, codes + 4, q.codebook().value);
  tensor<double> a({1, 1, 1, 2}, 0.0), b({1, 1, 1, 2}, 1.0);
  q.forward(a);  // code 0 twice
  CHECK(q.stats().perplexity() == doctest::Approx(1.0));
  q.forward(b);  // code 1 twice
  CHECK(q.stats().total() == 4);
  CHECK(q.stats().codes_used() == 2);
  CHECK(q.stats().fraction_used() == doctest::Approx(0.5));
  CHECK(q.stats().perplexity() == doctest::Approx(2.0));  // per batch it was 1 each time
  b[1] = 3.0;
  q.forward(b);  // codes 1 and 3: counts {2, 3, 0, 1} of 6
  const double p[] = {2.0 / 6, 3.0 / 6, 1.0 / 6};
  double h = 0;
  for (const double v : p) h -= v * std::log(v);
  CHECK(q.stats().perplexity() == doctest::Approx(std::exp(h)));
  CHECK(q.stats().fraction_used() == doctest::Approx(0.75));
  q.stats().reset();
  CHECK(q.stats().total() == 0);
  CHECK(q.stats().perplexity() == 0.0);
}

TEST_CASE("VectorQuantizer lookup decodes tokens to the forward's z_q exactly (with projections)") {
  quantizer_options opt;
  opt.codebook_dim = 2;
  opt.cosine = true;
  generator rng(10);
  VectorQuantizer<float> q(8, 3, opt);
  parameter_store<float> store;
  store.attach(q, rng);
  auto z = test::random_tensor<float>({2, 3, 2, 2}, rng);
  const tensor<float> zq = q.forward(z);
  const tensor<std::int32_t> tokens = q.indices();
  tensor<float> out;
  q.lookup(tokens, out);
  REQUIRE(out.shape() == zq.shape());
  for (std::int64_t i = 0; i < zq.numel(); ++i) CHECK(out[i] == zq[i]);
}

TEST_CASE("VectorQuantizer in row blocks (large M·K) assigns the same codes as one full distance matrix") {
  generator rng(12);
  VectorQuantizer<float> q(1500, 3);  // 4M/1500 = 2796 rows per block: 3 blocks for 6000 rows
  parameter_store<float> store;
  store.attach(q, rng);
  rng.fill_normal(q.codebook().value, q.codebook().numel(), 0.0, 1.0);
  auto z = test::random_tensor<float>({6, 3, 25, 40}, rng);
  q.set_training(false);
  q.forward(z);
  const tensor<std::int32_t> blocked = q.indices();
  CHECK_THROWS_WITH_AS(q.distances(), doctest::Contains("set_keep_distances"), error);
  q.set_keep_distances(true);
  q.forward(z);
  REQUIRE(q.distances().shape() == shape{6000, 1500});
  for (std::int64_t i = 0; i < blocked.numel(); ++i) REQUIRE(q.indices()[i] == blocked[i]);
  // and the code is truly the nearest one (checked in double on a few rows)
  for (const std::int64_t r : {0L, 2796L, 5999L}) {
    const std::int64_t n = r / 1000, p = r % 1000;
    double best = 1e300;
    std::int64_t arg = -1;
    for (std::int64_t k = 0; k < 1500; ++k) {
      double s = 0;
      for (std::int64_t c = 0; c < 3; ++c) {
        const double diff = static_cast<double>(z[(n * 3 + c) * 1000 + p]) - q.codebook().value[k * 3 + c];
        s += diff * diff;
      }
      if (s < best) best = s, arg = k;
    }
    CHECK(q.indices()[r] == arg);
  }
}

TEST_CASE("VectorQuantizer rejects bad shapes and tokens with clear errors") {
  generator rng(11);
  VectorQuantizer<float> q(4, 3);
  tensor<float> z({1, 3, 2, 2}, 0.5f);
  CHECK_THROWS_WITH_AS(q.forward(z), doctest::Contains("not attached"), error);
  parameter_store<float> store;
  store.attach(q, rng);
  CHECK_THROWS_WITH_AS(q.backward(z), doctest::Contains("before forward"), error);
  tensor<float> bad({1, 2, 2, 2});
  CHECK_THROWS_WITH_AS(q.forward(bad), doctest::Contains("expected z_e [N, 3, h, w], got [1, 2, 2, 2]"), error);
  tensor<float> flat({4, 3});
  CHECK_THROWS_WITH_AS(q.forward(flat), doctest::Contains("got [4, 3]"), error);
  q.forward(z);
  tensor<float> dbad({1, 3, 2, 1});
  CHECK_THROWS_WITH_AS(q.backward(dbad), doctest::Contains("dz_q"), error);
  tensor<std::int32_t> tokens({1, 1, 2}, 1);
  tokens[1] = 4;
  tensor<float> out;
  CHECK_THROWS_WITH_AS(q.lookup(tokens, out), doctest::Contains("token 4 at position 1 is outside [0, 4)"), error);
  tensor<std::int32_t> flat_tokens({4});
  CHECK_THROWS_WITH_AS(q.lookup(flat_tokens, out), doctest::Contains("expected tokens [N, h, w]"), error);
  CHECK_THROWS_AS(VectorQuantizer<float>(0, 3), error);
}

namespace vq_device_options {
struct stand_in_device_memory {};
struct stand_in_device : vae::cpu {  // device-like memory space (only constructed: it has no kernels)
  using memory_space = stand_in_device_memory;
  static constexpr const char* name = "stand-in";
};
// Aliases: the comma of VectorQuantizer<float, stand_in_device> would split the CHECK macros' arguments.
using device_vq = VectorQuantizer<float, stand_in_device>;
using device_ema = EMAVectorQuantizer<float, stand_in_device>;
}  // namespace vq_device_options

TEST_CASE("VectorQuantizer on a device backend refuses projections and cosine codes by name") {
  using vq_device_options::device_ema;
  using vq_device_options::device_vq;
  quantizer_options cosine, proj, km, restart;
  cosine.cosine = true;
  proj.codebook_dim = 2;
  km.kmeans_init = true;
  restart.restart_after_steps = 4;
  CHECK_THROWS_WITH_AS(device_vq(8, 4, cosine),
                       doctest::Contains("VectorQuantizer<stand-in>: option cosine: host backends only for now"),
                       vae::error);
  CHECK_THROWS_WITH_AS(device_vq(8, 4, proj), doctest::Contains("option codebook_dim (projections)"), vae::error);
  CHECK_THROWS_WITH_AS(device_ema(8, 4, cosine),
                       doctest::Contains("EMAVectorQuantizer<stand-in>: option cosine: host backends only"), vae::error);
  // k-means initialisation and dead-code restarts run on device backends (decided on the host; tests/cuda/vqvae_step.cu
  // compares them with cpu on a GPU).
  CHECK_NOTHROW(device_vq(8, 4, km));
  CHECK_NOTHROW(device_vq(8, 4, restart));
  CHECK_NOTHROW(device_ema(8, 4, km));
  proj.codebook_dim = 4;  // = D: no projection
  CHECK_NOTHROW(device_vq(8, 4, proj));
  CHECK_NOTHROW(device_ema(8, 4, quantizer_options{}));
}

TEST_CASE("codebook_stats::add_counts equals add of the indices it counts") {
  codebook_stats a(5), b(5);
  const std::int32_t idx[] = {4, 0, 4, 2, 4, 0};
  a.add(idx, 6);
  b.add_counts({2, 0, 1, 0, 3}, 6);
  CHECK(a.counts() == b.counts());
  CHECK(a.total() == b.total());
  CHECK(a.perplexity() == b.perplexity());
}
