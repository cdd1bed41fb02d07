// causal_attention op: finite-difference gradient in qkv (double, both forward paths), the probabilities (rows sum to 1, exactly 0 above
// the diagonal), the KV-cache form against the full form.
#include "vae/ops/causal_attention.hpp"

#include <vector>

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

TEST_CASE("causal_attention backward matches finite differences in every qkv element (double)") {
  // T 4: the forward's written-out products (a KV-cache step's path); T 10: its matrix products
  for (const std::int64_t T : {4, 10}) {
    generator rng(31);
    const attention_dims d{2, T, T, 2, 3};  // batch 2, 2 heads of 3
    auto qkv = test::random_tensor<double>({2, T, 18}, rng);
    const auto r = test::random_tensor<double>({2, T, 6}, rng);
    tensor<double> y({2, T, 6}), att({2, 2, T, T}), dqkv({2, T, 18});
    ops::causal_attention_forward<cpu>(d, qkv.data(), y.data(), att.data());
    ops::causal_attention_backward<cpu>(d, qkv.data(), att.data(), r.data(), dqkv.data());
    auto loss = [&] {
      ops::causal_attention_forward<cpu>(d, qkv.data(), y.data(), att.data());
      double s = 0;
      for (std::int64_t i = 0; i < y.numel(); ++i) s += y[i] * r[i];
      return s;
    };
    testing::gradcheck_options opt;
    opt.max_checks_per_tensor = 1000;
    testing::gradcheck_report report;
    testing::check_gradient(loss, qkv.data(), dqkv.data(), qkv.numel(), "qkv", opt, report);
    INFO("T = " << T << ": " << report.summary());
    CHECK(report.ok);
    CHECK(report.checked == 2 * T * 18);
    // the first position's query sees one key only: its q gradient is exactly zero
    for (std::int64_t c = 0; c < 6; ++c) CHECK(dqkv[c] == 0.0);
  }
}

TEST_CASE("causal_attention probabilities: rows sum to 1, exactly 0 above the diagonal") {
  generator rng(32);
  const attention_dims d{1, 5, 5, 2, 4};
  const auto qkv = test::random_tensor<float>({1, 5, 24}, rng);
  tensor<float> y({1, 5, 8}), att({1, 2, 5, 5});
  ops::causal_attention_forward<cpu>(d, qkv.data(), y.data(), att.data());
  std::int64_t zeros = 0;
  for (std::int64_t h = 0; h < 2; ++h)
    for (std::int64_t i = 0; i < 5; ++i) {
      double s = 0;
      for (std::int64_t j = 0; j < 5; ++j) {
        const float p = att[(h * 5 + i) * 5 + j];
        s += p;
        if (j > i) zeros += p == 0.f;
      }
      CHECK(s == doctest::Approx(1.0).epsilon(1e-6));
    }
  CHECK(zeros == 2 * 10);
  CHECK(att[0] == 1.f);  // position 0 attends to itself only
}

TEST_CASE("cached_attention_forward over a growing cache equals the full causal attention") {
  generator rng(33);
  const std::int64_t batch = 2, T = 12, H = 2, D = 4, C = H * D, cap = 13;  // T > 8: the full form's products
  const auto qkv = test::random_tensor<float>({batch, T, 3 * C}, rng);
  tensor<float> y({batch, T, C}), att({batch, H, T, T});
  ops::causal_attention_forward<cpu>({batch, T, T, H, D}, qkv.data(), y.data(), att.data());
  tensor<float> kc({batch, H, cap, D}, 0.f), vc({batch, H, cap, D}, 0.f);
  double worst = 0;
  for (std::int64_t start = 0, step = 3; start < T; start += step, step = 1) {
    tensor<float> part({batch, step, 3 * C}), yp({batch, step, C});
    for (std::int64_t b = 0; b < batch; ++b)
      std::copy(qkv.data() + (b * T + start) * 3 * C, qkv.data() + (b * T + start + step) * 3 * C,
                part.data() + b * step * 3 * C);
    ops::cached_attention_forward<cpu>({batch, step, start + step, H, D}, cap, part.data(), kc.data(), vc.data(),
                                       yp.data());
    for (std::int64_t b = 0; b < batch; ++b)
      for (std::int64_t i = 0; i < step * C; ++i)
        worst = std::max(worst, double(std::abs(yp[b * step * C + i] - y[(b * T + start) * C + i])));
  }
  MESSAGE("cached vs full attention: max |diff| " << worst);
  CHECK(worst < 1e-6);
}
