// Quantizer element ops (cpu): layout round trip, gather, squared error, commitment/codebook gradients, per-code
// counts, EMA update and the skip additions, each against values worked out by hand or by a plain double loop.
#include "vae/ops/add.hpp"
#include "vae/ops/vq_terms.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

using namespace vae;

TEST_CASE("nchw_to_rows and rows_to_nchw: row r = (image, y, x), columns = channels; the round trip is exact") {
  // n = 2, c = 3, hw = 2: src[b, ch, p] = 100b + 10ch + p.
  std::vector<float> src(12), rows(12), back(12);
  for (int b = 0; b < 2; ++b)
    for (int ch = 0; ch < 3; ++ch)
      for (int p = 0; p < 2; ++p) src[(b * 3 + ch) * 2 + p] = static_cast<float>(100 * b + 10 * ch + p);
  ops::nchw_to_rows<cpu>(2, 3, 2, src.data(), rows.data());
  // row 3 = (image 1, position 1): channels 101, 111, 121
  CHECK(rows[3 * 3 + 0] == 101.0f);
  CHECK(rows[3 * 3 + 1] == 111.0f);
  CHECK(rows[3 * 3 + 2] == 121.0f);
  CHECK(rows[0 * 3 + 2] == 20.0f);  // row 0, channel 2
  ops::rows_to_nchw<cpu>(2, 3, 2, rows.data(), back.data());
  CHECK(back == src);
}

TEST_CASE("vq_gather, vq_squared_error and vq_code_counts") {
  const std::vector<double> codes{0, 1, 2, 3, 4, 5};  // 3 codes of dim 2
  const std::vector<std::int32_t> idx{2, 0, 2, 2};
  std::vector<double> e(8);
  ops::vq_gather<cpu>(4, 2, codes.data(), idx.data(), e.data());
  CHECK(e == std::vector<double>{4, 5, 0, 1, 4, 5, 4, 5});
  const std::vector<double> z{4, 6, 1, 1, 3, 5, 4, 5};
  // (0 + 1) + (1 + 0) + (1 + 0) + 0 = 3
  CHECK(ops::vq_squared_error<cpu>(4, 2, z.data(), e.data()) == doctest::Approx(3.0).epsilon(1e-15));
  std::vector<std::int64_t> counts(3, -1);
  ops::vq_code_counts<cpu>(4, 3, idx.data(), counts.data());
  CHECK(counts == std::vector<std::int64_t>{1, 0, 3});
}

TEST_CASE("vq_commitment_grad and vq_codebook_grad add scale·(z − e) and scale·(e − z) per assigned row") {
  const std::vector<std::int32_t> idx{1, 0, 1};
  const std::vector<double> z{1, 2, 3, 4, 5, 6}, e{0, 2, 3, 3, 7, 5};  // 3 rows of dim 2
  std::vector<double> dz{10, 10, 10, 10, 10, 10};
  ops::vq_commitment_grad<cpu>(6, 0.5, z.data(), e.data(), dz.data());
  CHECK(dz == std::vector<double>{10.5, 10, 10, 10.5, 9, 10.5});
  std::vector<double> grad{1, 1, 1, 1};  // 2 codes of dim 2
  ops::vq_codebook_grad<cpu>(3, 2, 2, 2.0, idx.data(), z.data(), e.data(), grad.data());
  // code 0 ← row 1: 2·(3 − 3, 3 − 4) = (0, −2); code 1 ← rows 0 and 2: 2·((0 − 1) + (7 − 5), (2 − 2) + (5 − 6)) = (2, −2)
  CHECK(grad == std::vector<double>{1, -1, 3, -1});
}

TEST_CASE("vq_ema_update: moving counts and sums, then Laplace-smoothed codes (a plain double loop)") {
  const vq_ema_args a{4, 2, 1, 0.9, 1e-5};
  const std::vector<std::int32_t> idx{0, 0, 1, 0};
  const std::vector<double> z{1, 2, 10, 3};
  const std::vector<std::int64_t> counts{3, 1};
  std::vector<double> count{1, 1}, sum{0.5, 4}, codebook{0, 0};
  ops::vq_ema_update<cpu>(a, idx.data(), z.data(), counts.data(), count.data(), sum.data(), codebook.data());
  const double n0 = 0.9 * 1 + 0.1 * 3, n1 = 0.9 * 1 + 0.1 * 1, n = n0 + n1;
  const double s0 = 0.9 * 0.5 + 0.1 * (1 + 2 + 3), s1 = 0.9 * 4 + 0.1 * 10;
  CHECK(count[0] == doctest::Approx(n0).epsilon(1e-15));
  CHECK(count[1] == doctest::Approx(n1).epsilon(1e-15));
  CHECK(sum[0] == doctest::Approx(s0).epsilon(1e-15));
  CHECK(sum[1] == doctest::Approx(s1).epsilon(1e-15));
  CHECK(codebook[0] == doctest::Approx(s0 / ((n0 + 1e-5) / (n + 2e-5) * n)).epsilon(1e-14));
  CHECK(codebook[1] == doctest::Approx(s1 / ((n1 + 1e-5) / (n + 2e-5) * n)).epsilon(1e-14));
}

TEST_CASE("ops::add and ops::subtract") {
  const std::vector<float> a{1, 2, 3}, b{0.5f, -2, 4};
  std::vector<float> out(3);
  ops::add<cpu>(3, a.data(), b.data(), out.data());
  CHECK(out == std::vector<float>{1.5f, 0, 7});
  ops::subtract<cpu>(3, a.data(), b.data(), out.data());
  CHECK(out == std::vector<float>{0.5f, 4, -1});
}
