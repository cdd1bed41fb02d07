// The batch-norm op's split training path (channel sums → forward with given statistics; backward reduce →
// backward elemt): bit for bit the fused path on one process, and, run over unequal shards whose sums are added as an
// allreduce would, the gradient of the summed loss by finite differences (double).
#include "vae/ops/batch_norm.hpp"

#include <vector>

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

namespace ops_batch_norm_test {

// The split path over `shards` row ranges of x [N, C, S] (contiguous in NCHW), their per-channel sums added between
// the calls as the ranks' allreduce would: y, the saved statistics, and (backward) dx, dweight/dbias summed over
// shards. weight/bias may be null.
template <class T>
struct split_result {
  std::vector<T> y, mean, rstd, dx, dweight, dbias;
};

template <class T>
split_result<T> split_path(const batch_norm_dims& d, const std::vector<std::int64_t>& shards, double eps, const T* x,
                           const T* weight, const T* bias, const T* dy) {
  const std::int64_t C = d.channels, per_row = C * d.spatial;
  split_result<T> r;
  r.y.resize(d.batch * per_row);
  r.dx.resize(d.batch * per_row);
  r.dweight.assign(C, T(0));
  r.dbias.assign(C, T(0));
  const auto each_shard = [&](auto&& body) {
    std::int64_t row = 0;
    for (const std::int64_t n : shards) {
      body(batch_norm_dims{n, C, d.spatial}, row * per_row);
      row += n;
    }
    REQUIRE(row == d.batch);
  };
  const double count = static_cast<double>(d.batch * d.spatial);
  std::vector<double> sum(C, 0.0), part(C), mean(C), var(C, 0.0), part2(C);
  each_shard([&](const batch_norm_dims& s, std::int64_t at) {
    ops::batch_norm_channel_sums<cpu>(s, x + at, nullptr, part.data(), nullptr);
    for (std::int64_t c = 0; c < C; ++c) sum[c] += part[c];
  });
  for (std::int64_t c = 0; c < C; ++c) mean[c] = sum[c] / count;
  each_shard([&](const batch_norm_dims& s, std::int64_t at) {
    ops::batch_norm_channel_sums<cpu>(s, x + at, mean.data(), nullptr, part.data());
    for (std::int64_t c = 0; c < C; ++c) var[c] += part[c];
  });
  for (std::int64_t c = 0; c < C; ++c) var[c] /= count;
  // Every shard saves the same statistics (they are global).
  r.mean.resize(C);
  r.rstd.resize(C);
  each_shard([&](const batch_norm_dims& s, std::int64_t at) {
    ops::batch_norm_forward_with_stats<cpu>(s, eps, x + at, weight, bias, mean.data(), var.data(), r.y.data() + at,
                                            r.mean.data(), r.rstd.data());
  });
  if (dy == nullptr) return r;
  std::vector<double> sg(C, 0.0), sgx(C, 0.0);
  each_shard([&](const batch_norm_dims& s, std::int64_t at) {
    ops::batch_norm_backward_reduce<cpu>(s, x + at, r.mean.data(), r.rstd.data(), dy + at, part.data(), part2.data(),
                                         weight ? r.dweight.data() : nullptr, bias ? r.dbias.data() : nullptr);
    for (std::int64_t c = 0; c < C; ++c) {
      sg[c] += part[c];
      sgx[c] += part2[c];
    }
  });
  const double inv_count = 1.0 / count;
  for (std::int64_t c = 0; c < C; ++c) {
    sg[c] *= inv_count;
    sgx[c] *= inv_count;
  }
  each_shard([&](const batch_norm_dims& s, std::int64_t at) {
    ops::batch_norm_backward_elemt<cpu>(s, x + at, weight, r.mean.data(), r.rstd.data(), dy + at, sg.data(),
                                        sgx.data(), r.dx.data() + at);
  });
  return r;
}

template <class T>
void require_split_equals_fused(const batch_norm_dims& d, bool affine, std::uint64_t seed) {
  generator rng(seed);
  const shape xs{d.batch, d.channels, d.spatial}, cs{d.channels};
  auto x = test::random_tensor<T>(xs, rng, 2.0);
  for (auto& v : x) v += T(3);
  const auto w = test::random_tensor<T>(cs, rng), b = test::random_tensor<T>(cs, rng);
  const auto dy = test::random_tensor<T>(xs, rng);
  const T* wp = affine ? w.data() : nullptr;
  const T* bp = affine ? b.data() : nullptr;
  tensor<T> y(xs), mean(cs), rstd(cs), dx(xs), dw(cs, T(0)), db(cs, T(0));
  ops::batch_norm_forward_train<cpu>(d, 1e-5, 0.1, x.data(), wp, bp, y.data(), mean.data(), rstd.data(),
                                     static_cast<T*>(nullptr), static_cast<T*>(nullptr));
  ops::batch_norm_backward<cpu>(d, true, x.data(), wp, mean.data(), rstd.data(), dy.data(), dx.data(),
                                affine ? dw.data() : nullptr, affine ? db.data() : nullptr);
  const auto s = split_path<T>(d, {d.batch}, 1e-5, x.data(), wp, bp, dy.data());
  INFO("dims [", d.batch, ", ", d.channels, ", ", d.spatial, "] affine=", affine);
  CHECK(std::equal(y.begin(), y.end(), s.y.begin()));
  CHECK(std::equal(mean.begin(), mean.end(), s.mean.begin()));
  CHECK(std::equal(rstd.begin(), rstd.end(), s.rstd.begin()));
  CHECK(std::equal(dx.begin(), dx.end(), s.dx.begin()));
  CHECK(std::equal(dw.begin(), dw.end(), s.dweight.begin()));
  CHECK(std::equal(db.begin(), db.end(), s.dbias.begin()));
}

}  // namespace ops_batch_norm_test

TEST_CASE_TEMPLATE("batch_norm split path (sums, with_stats, backward reduce/elemt) equals the fused one, bit for bit",
                   T, float, double) {
  ops_batch_norm_test::require_split_equals_fused<T>({4, 3, 9}, true, 1);
  ops_batch_norm_test::require_split_equals_fused<T>({2, 5, 17}, false, 2);  // no affine; 17: not a lane multiple
  ops_batch_norm_test::require_split_equals_fused<T>({6, 2, 1}, true, 3);    // BatchNorm1d-like: spatial 1
  ops_batch_norm_test::require_split_equals_fused<T>({8, 16, 64}, true, 4);  // the parallel path over channels
}

TEST_CASE("batch_norm channel sums: Σx and Σ(x − center)² per channel; a null output is skipped") {
  const batch_norm_dims d{2, 2, 3};
  const float x[12] = {1, 2, 3, 10, 20, 30, 4, 5, 6, 40, 50, 60};  // channel 0: 1..6, channel 1: 10..60
  const double center[2] = {3.5, 35};
  double sum[2] = {-1, -1}, sq[2] = {-1, -1};
  ops::batch_norm_channel_sums<cpu>(d, x, nullptr, sum, nullptr);
  CHECK(sum[0] == 21);
  CHECK(sum[1] == 210);
  CHECK(sq[0] == -1);
  ops::batch_norm_channel_sums<cpu>(d, x, center, nullptr, sq);
  CHECK(sq[0] == 17.5);  // Σ (k − 3.5)² for k = 1..6
  CHECK(sq[1] == 1750);
  ops::batch_norm_channel_sums<cpu>(d, x, nullptr, nullptr, sq);
  CHECK(sq[0] == 91);  // no center: Σ x²
}

TEST_CASE("batch_norm split path over unequal shards: dx, dweight, dbias of the summed loss by finite differences") {
  // x [5, 3, 4] as shards of 3 and 2 rows (two ranks); loss = Σ y·r over all rows = the sum of the ranks' losses.
  const batch_norm_dims d{5, 3, 4};
  const std::vector<std::int64_t> shards{3, 2};
  generator rng(11);
  auto x = test::random_tensor<double>({5, 3, 4}, rng, 2.0);
  for (auto& v : x) v += 1.0;
  auto w = test::random_tensor<double>({3}, rng), b = test::random_tensor<double>({3}, rng);
  const auto r = test::random_tensor<double>({5, 3, 4}, rng);
  const auto loss = [&] {
    const auto s = ops_batch_norm_test::split_path<double>(d, shards, 1e-5, x.data(), w.data(), b.data(), nullptr);
    double l = 0;
    for (std::int64_t i = 0; i < r.numel(); ++i) l += s.y[i] * r[i];
    return l;
  };
  const auto g = ops_batch_norm_test::split_path<double>(d, shards, 1e-5, x.data(), w.data(), b.data(), r.data());
  testing::gradcheck_report report;
  const testing::gradcheck_options opt;
  testing::check_gradient(loss, x.data(), g.dx.data(), x.numel(), "x", opt, report);
  testing::check_gradient(loss, w.data(), g.dweight.data(), 3, "weight", opt, report);
  testing::check_gradient(loss, b.data(), g.dbias.data(), 3, "bias", opt, report);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == 60 + 3 + 3);
  CHECK(report.nonzero == 66);  // every derivative checked is non-zero
  // The same sums as the fused path on the whole batch, to double rounding (the shards add in another order).
  tensor<double> y(shape{5, 3, 4}), mean(shape{3}), rstd(shape{3}), dx(shape{5, 3, 4});
  tensor<double> dw(shape{3}, 0.0), db(shape{3}, 0.0);
  ops::batch_norm_forward_train<cpu>(d, 1e-5, 0.1, x.data(), w.data(), b.data(), y.data(), mean.data(), rstd.data(),
                                     static_cast<double*>(nullptr), static_cast<double*>(nullptr));
  ops::batch_norm_backward<cpu>(d, true, x.data(), w.data(), mean.data(), rstd.data(), r.data(), dx.data(), dw.data(),
                                db.data());
  for (std::int64_t i = 0; i < 60; ++i) {
    CHECK(g.dx[i] == doctest::Approx(dx[i]).epsilon(1e-12));
  }
  for (std::int64_t c = 0; c < 3; ++c) {
    CHECK(g.dweight[c] == doctest::Approx(dw[c]).epsilon(1e-12));
    CHECK(g.dbias[c] == doctest::Approx(db[c]).epsilon(1e-12));
  }
}
