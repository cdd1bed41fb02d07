// CUDA vq_nearest op (norm kernel + cuBLAS GEMM + block argmin) against the cpu kernel: distances, indices, ties, NaN.
#include "vae/backend/cuda/vq_nearest.cuh"

#include <cmath>
#include <limits>
#include <vector>

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

namespace {

// Runs the op on both backends over the same z [rows, dim] and E [codes, dim]; returns the host copies.
template <class T>
struct both_results {
  tensor<T> dist, norms, gdist, gnorms;
  tensor<std::int32_t> idx, gidx;
};
template <class T>
both_results<T> run_both(const vq_nearest_dims& d, const tensor<T>& z, const tensor<T>& E) {
  both_results<T> o;
  o.dist = tensor<T>({d.rows, d.codes});
  o.norms = tensor<T>({d.codes});
  o.idx = tensor<std::int32_t>({d.rows}, -1);
  ops::vq_code_norms<cpu>(d, E.data(), o.norms.data());
  ops::vq_nearest<cpu>(d, z.data(), E.data(), o.norms.data(), o.dist.data(), o.idx.data());
  const auto gz = to<cuda>(z), gE = to<cuda>(E);
  tensor<T, cuda> gdist({d.rows, d.codes}), gnorms({d.codes});
  tensor<std::int32_t, cuda> gidx({d.rows}, -1);
  ops::vq_code_norms<cuda>(d, gE.data(), gnorms.data());
  ops::vq_nearest<cuda>(d, gz.data(), gE.data(), gnorms.data(), gdist.data(), gidx.data());
  o.gdist = to<cpu>(gdist);
  o.gnorms = to<cpu>(gnorms);
  o.gidx = to<cpu>(gidx);
  return o;
}

}  // namespace

// The rule for indices: the device must pick the cpu's index, except in a near tie: where the cpu's own distances
// to the two chosen codes differ by at most rel·(‖z‖² + ‖E_a‖² + ‖E_b‖²) — the rounding of ‖z‖² − 2z·E + ‖E‖² when
// cuBLAS sums z·E in another order than Eigen (float: rel = 1e-5, a 10× margin over d ≤ 64 terms of ulp 6e-8;
// double: 1e-12). Such rows are counted and printed; any other difference fails. Distances: the same bound.
TEST_CASE_TEMPLATE("cuda vq_nearest matches the cpu kernel (indices equal except counted near ties)", T, float,
                   double) {
  const double rel = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  generator rng(81);
  // Codes below, at and above the 256 threads of a row's block; one row; one code.
  for (const vq_nearest_dims d : {vq_nearest_dims{37, 7, 3}, vq_nearest_dims{300, 512, 64},
                                  vq_nearest_dims{70, 256, 16}, vq_nearest_dims{9, 257, 8},
                                  vq_nearest_dims{5, 1000, 17}, vq_nearest_dims{1, 1, 4}}) {
    const auto z = random_tensor<T>({d.rows, d.dim}, rng), E = random_tensor<T>({d.codes, d.dim}, rng);
    const auto o = run_both(d, z, E);
    const std::string label = cat("vq_nearest rows=", d.rows, " codes=", d.codes, " dim=", d.dim);
    std::int64_t near_ties = 0;
    double max_err = 0;
    bool distances_ok = true;
    for (std::int64_t r = 0; r < d.rows; ++r) {
      double zz = 0;
      for (std::int64_t j = 0; j < d.dim; ++j) zz += static_cast<double>(z[r * d.dim + j]) * z[r * d.dim + j];
      for (std::int64_t k = 0; k < d.codes; ++k) {
        const double err = std::abs(static_cast<double>(o.gdist[r * d.codes + k]) - o.dist[r * d.codes + k]);
        max_err = std::max(max_err, err);
        distances_ok = distances_ok && err <= rel * (zz + o.norms[k]);
      }
      const auto got = o.gidx[r], want = o.idx[r];
      REQUIRE_MESSAGE(got >= 0, label << " row " << r << ": index " << got);
      REQUIRE_MESSAGE(got < d.codes, label << " row " << r << ": index " << got);
      if (got == want) continue;
      const double gap = std::abs(static_cast<double>(o.dist[r * d.codes + got]) - o.dist[r * d.codes + want]);
      const double bound = rel * (zz + o.norms[got] + o.norms[want]);
      CHECK_MESSAGE(gap <= bound, label << " row " << r << ": cuda chose " << got << ", cpu " << want
                                        << ", cpu distances differ by " << gap << " > " << bound);
      ++near_ties;
    }
    MESSAGE(label << ": max distance error " << max_err << ", " << near_ties
                  << " near-tie rows where cuda and cpu chose different codes");
    CHECK_MESSAGE(distances_ok, label << " distances: max error " << max_err);
    require_close(to<cuda>(o.gnorms), o.norms, label + " code norms", 0.0, rel);
  }
}

TEST_CASE_TEMPLATE("cuda vq_nearest breaks exact ties by the lowest index, as the cpu (integer data)", T, float,
                   double) {
  // Entries in {−2, …, 2}: every product and partial sum is a small integer, exact in float whatever order cuBLAS
  // uses, so both backends see the same distances and every tie is real: indices and distances must be equal.
  // Code 1 copies code 0 and code 300 copies code 299 (across the threads of a block); row 0 is the origin.
  const vq_nearest_dims d{96, 320, 4};
  generator rng(82);
  tensor<T> z({d.rows, d.dim}), E({d.codes, d.dim});
  for (std::int64_t i = 0; i < E.numel(); ++i) E[i] = static_cast<T>(static_cast<int>(rng.below(3)) - 1);
  for (std::int64_t i = 0; i < z.numel(); ++i) z[i] = static_cast<T>(static_cast<int>(rng.below(5)) - 2);
  for (std::int64_t j = 0; j < d.dim; ++j) {
    z[j] = 0;
    E[d.dim + j] = E[j];
    E[300 * d.dim + j] = E[299 * d.dim + j];
  }
  const auto o = run_both(d, z, E);
  std::int64_t tie_rows = 0;
  for (std::int64_t r = 0; r < d.rows; ++r) {
    std::int64_t holders = 0;
    for (std::int64_t k = 0; k < d.codes; ++k) holders += o.dist[r * d.codes + k] == o.dist[r * d.codes + o.idx[r]];
    tie_rows += holders > 1;
  }
  MESSAGE(tie_rows << " of " << d.rows << " rows have their minimum at two or more codes");
  REQUIRE(tie_rows >= d.rows / 2);  // with 81 patterns for 320 codes nearly every row ties
  require_close(to<cuda>(o.gdist), o.dist, "integer distances", 0.0, 0.0);
  for (std::int64_t r = 0; r < d.rows; ++r) {
    CHECK_MESSAGE(o.gidx[r] == o.idx[r], "row " << r << ": cuda " << o.gidx[r] << ", cpu " << o.idx[r]);
    CHECK(o.gidx[r] != 1);
    CHECK(o.gidx[r] != 300);
  }
}

TEST_CASE("cuda vq_nearest: NaN distances are skipped and an all-NaN row gets the last code, as the cpu") {
  const vq_nearest_dims d{3, 300, 2};
  const float nan = std::numeric_limits<float>::quiet_NaN();
  tensor<float> E({d.codes, d.dim}, 0.f), z({d.rows, d.dim}, 0.f);
  for (std::int64_t k = 0; k < d.codes; ++k) E[k * d.dim] = static_cast<float>(k);  // code k = (k, 0)
  E[0] = nan;     // code 0 is NaN in every row
  z[0] = 0.2f;    // row 0: nearest non-NaN code is 1
  z[2] = 270.1f;  // row 1: code 270 (handled by thread 14 in its second pass)
  z[4] = nan;     // row 2: every distance NaN
  const auto o = run_both(d, z, E);
  CHECK(o.idx[0] == 1);
  CHECK(o.idx[1] == 270);
  CHECK(o.idx[2] == d.codes - 1);
  for (std::int64_t r = 0; r < d.rows; ++r) CHECK_MESSAGE(o.gidx[r] == o.idx[r], "row " << r);
}

TEST_CASE("cuda vq_nearest accepts zero rows; the code norms are still computed") {
  const vq_nearest_dims d{0, 4, 3};
  tensor<float, cuda> z({0, 3}), E({4, 3}, 1.f), norms({4}), dist({0, 4});
  tensor<std::int32_t, cuda> idx({0});
  ops::vq_code_norms<cuda>(d, E.data(), norms.data());
  ops::vq_nearest<cuda>(d, z.data(), E.data(), norms.data(), dist.data(), idx.data());
  require_close(norms, tensor<float>({4}, 3.f), "norms of (1, 1, 1)", 0.0, 0.0);
}
