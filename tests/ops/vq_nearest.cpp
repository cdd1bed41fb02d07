// vq_nearest op (cpu): distances and indices against a brute-force double loop, exact ties (lowest index), NaN rows.
#include "vae/ops/vq_nearest.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include "vae/core/parameters.hpp"  // test_support.hpp uses parameter<T> without including it

#include "../test_support.hpp"

using namespace vae;

namespace vq_nearest_test {

// Brute force in double: D[r, k] = Σ_j (z[r, j] − E[k, j])², and each row's first minimum.
struct brute_force {
  std::vector<double> dist;
  std::vector<std::int32_t> idx;
  std::int64_t tie_rows = 0;  // rows whose minimum is held by two or more codes
};
template <class T>
brute_force nearest_by_loops(const vq_nearest_dims& d, const T* z, const T* E) {
  brute_force b;
  b.dist.resize(static_cast<std::size_t>(d.rows * d.codes));
  b.idx.resize(static_cast<std::size_t>(d.rows));
  for (std::int64_t r = 0; r < d.rows; ++r) {
    std::int64_t best = 0, holders = 0;
    for (std::int64_t k = 0; k < d.codes; ++k) {
      double s = 0;
      for (std::int64_t j = 0; j < d.dim; ++j) {
        const double diff = static_cast<double>(z[r * d.dim + j]) - static_cast<double>(E[k * d.dim + j]);
        s += diff * diff;
      }
      b.dist[r * d.codes + k] = s;
      if (s < b.dist[r * d.codes + best]) best = k;
    }
    for (std::int64_t k = 0; k < d.codes; ++k) holders += b.dist[r * d.codes + k] == b.dist[r * d.codes + best];
    b.idx[r] = static_cast<std::int32_t>(best);
    b.tie_rows += holders > 1;
  }
  return b;
}

template <class T>
struct op_result {
  tensor<T> dist, norms;
  std::vector<std::int32_t> idx;
};
template <class T>
op_result<T> run_op(const vq_nearest_dims& d, const tensor<T>& z, const tensor<T>& E) {
  op_result<T> o{tensor<T>({d.rows, d.codes}), tensor<T>({d.codes}), std::vector<std::int32_t>(d.rows, -1)};
  ops::vq_code_norms<cpu>(d, E.data(), o.norms.data());
  ops::vq_nearest<cpu>(d, z.data(), E.data(), o.norms.data(), o.dist.data(), o.idx.data());
  return o;
}

}  // namespace vq_nearest_test

TEST_CASE_TEMPLATE("vq_nearest on random rows: distances and indices agree with a brute-force double loop", T, float,
                   double) {
  using namespace vq_nearest_test;
  // The op evaluates ‖z‖² − 2z·E + ‖E‖² in T, the loop Σ(z − e)² in double; they differ by a few ulps of
  // S = ‖z‖² + ‖E‖² (cancellation). rel = 1e-5 (float: d ≤ 64 terms of ulp 6e-8) / 1e-12 (double) of S bounds the
  // distance error; the op's index may differ from the loop's only where the loop's distances of the two indices
  // are within that bound (a near tie), and such rows are counted.
  const double rel = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  generator rng(71);
  for (const vq_nearest_dims d : {vq_nearest_dims{37, 7, 3}, vq_nearest_dims{300, 512, 64},
                                  vq_nearest_dims{5, 1000, 17}, vq_nearest_dims{1, 1, 4}}) {
    const auto z = test::random_tensor<T>({d.rows, d.dim}, rng), E = test::random_tensor<T>({d.codes, d.dim}, rng);
    const auto o = run_op(d, z, E);
    const auto b = nearest_by_loops(d, z.data(), E.data());
    std::int64_t near_ties = 0;
    double max_err = 0;
    bool distances_ok = true;
    for (std::int64_t r = 0; r < d.rows; ++r) {
      double zz = 0;
      for (std::int64_t j = 0; j < d.dim; ++j) zz += static_cast<double>(z[r * d.dim + j]) * z[r * d.dim + j];
      for (std::int64_t k = 0; k < d.codes; ++k) {
        const double err = std::abs(o.dist[r * d.codes + k] - b.dist[r * d.codes + k]);
        max_err = std::max(max_err, err);
        distances_ok = distances_ok && err <= rel * (zz + o.norms[k]) + 1e-30;
      }
      const auto got = o.idx[r], want = b.idx[r];
      REQUIRE(got >= 0);
      REQUIRE(got < d.codes);
      if (got == want) continue;
      const double gap = b.dist[r * d.codes + got] - b.dist[r * d.codes + want];
      const double bound = rel * (zz + o.norms[got] + o.norms[want]);
      CHECK_MESSAGE(gap <= bound, "row " << r << ": op chose " << got << ", nearest is " << want << " by " << gap);
      ++near_ties;
    }
    MESSAGE("rows=" << d.rows << " codes=" << d.codes << " dim=" << d.dim << ": max distance error " << max_err
                    << ", " << near_ties << " near-tie rows where the op and the loop differ");
    CHECK(distances_ok);
    for (std::int64_t k = 0; k < d.codes; ++k) {
      double s = 0;
      for (std::int64_t j = 0; j < d.dim; ++j) s += static_cast<double>(E[k * d.dim + j]) * E[k * d.dim + j];
      CHECK(std::abs(o.norms[k] - s) <= rel * s);
    }
  }
}

TEST_CASE_TEMPLATE("vq_nearest breaks exact ties by the lowest index (integer data: every distance is exact)", T, float,
                   double) {
  using namespace vq_nearest_test;
  // Entries in {−2, …, 2}: every product and sum is a small integer, exact in float and in any order, so the op's
  // distances equal the loop's and ties are real ties. Distances are small integers, so many rows have several
  // nearest codes; code 1 is a copy of code 0 (an exact duplicate), and row 0 is the origin (distance = ‖E_k‖²).
  const vq_nearest_dims d{64, 40, 4};
  generator rng(72);
  tensor<T> z({d.rows, d.dim}), E({d.codes, d.dim});
  for (std::int64_t i = 0; i < E.numel(); ++i) E[i] = static_cast<T>(static_cast<int>(rng.below(3)) - 1);
  for (std::int64_t i = 0; i < z.numel(); ++i) z[i] = static_cast<T>(static_cast<int>(rng.below(5)) - 2);
  for (std::int64_t j = 0; j < d.dim; ++j) {
    z[j] = 0;
    E[d.dim + j] = E[j];
  }
  const auto o = run_op(d, z, E);
  const auto b = nearest_by_loops(d, z.data(), E.data());
  MESSAGE(b.tie_rows << " of " << d.rows << " rows have their minimum at two or more codes");
  REQUIRE(b.tie_rows >= d.rows / 4);  // the case must exercise the tie rule
  for (std::int64_t i = 0; i < d.rows * d.codes; ++i) REQUIRE(static_cast<double>(o.dist[i]) == b.dist[i]);
  for (std::int64_t r = 0; r < d.rows; ++r) CHECK_MESSAGE(o.idx[r] == b.idx[r], "row " << r);
  for (std::int64_t r = 0; r < d.rows; ++r) CHECK(o.idx[r] != 1);  // a copy of code 0 is never the first minimum
}

TEST_CASE("vq_nearest: NaN distances are skipped; an all-NaN row gets the last code") {
  using namespace vq_nearest_test;
  const vq_nearest_dims d{3, 5, 2};
  const float nan = std::numeric_limits<float>::quiet_NaN();
  tensor<float> E({d.codes, d.dim}, 0.f), z({d.rows, d.dim}, 0.f);
  for (std::int64_t k = 0; k < d.codes; ++k) E[k * d.dim] = static_cast<float>(k);  // code k = (k, 0)
  E[0] = nan;             // code 0 is NaN: its column is NaN in every row
  z[0] = 0.2f;            // row 0 near (0, 0), but code 0 is NaN → code 1
  z[2] = 3.1f;            // row 1 nearest code 3
  z[4] = nan;             // row 2 all NaN
  const auto o = run_op(d, z, E);
  CHECK(std::isnan(o.dist[0]));
  CHECK(o.idx[0] == 1);
  CHECK(o.idx[1] == 3);
  CHECK(o.idx[2] == d.codes - 1);
}

TEST_CASE("vq_nearest: NaN codes across the 16-wide min of the float kernel are skipped") {
  using namespace vq_nearest_test;
  const vq_nearest_dims d{3, 40, 2};  // two full 16-code vectors and a tail of 8
  const float nan = std::numeric_limits<float>::quiet_NaN();
  tensor<float> E({d.codes, d.dim}, 0.f), z({d.rows, d.dim}, 0.f);
  for (std::int64_t k = 0; k < d.codes; ++k) E[k * d.dim] = k < 20 ? nan : static_cast<float>(k);
  z[0] = 3.1f;   // nearest by value would be code 3, but codes 0-19 are NaN → code 20
  z[2] = 37.4f;  // in the scalar tail → code 37
  z[4] = nan;    // all NaN → the last code
  const auto o = run_op(d, z, E);
  CHECK(o.idx[0] == 20);
  CHECK(o.idx[1] == 37);
  CHECK(o.idx[2] == d.codes - 1);
}
