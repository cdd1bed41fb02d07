// Zero padding: exact values against plain loops, the backward as the adjoint crop (finite differences in double).
#include "vae/ops/pad2d.hpp"

#include "vae/core/parameters.hpp"  // test_support.hpp uses parameter<T> without including it

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

TEST_CASE("pad2d writes x inside zeros and its backward crops the gradient (exact)") {
  generator rng(3);
  for (const pad2d_dims d : {pad2d_dims{6, 4, 5, 0, 1, 0, 1}, pad2d_dims{2, 3, 2, 2, 1, 3, 0}}) {
    const auto x = test::random_tensor<float>({d.planes, d.h, d.w}, rng);
    tensor<float> y({d.planes, d.out_h(), d.out_w()}, 7.f);
    ops::pad2d_forward<cpu>(d, x.data(), y.data());
    std::int64_t inside = 0;
    for (std::int64_t p = 0; p < d.planes; ++p)
      for (std::int64_t i = 0; i < d.out_h(); ++i)
        for (std::int64_t j = 0; j < d.out_w(); ++j) {
          const std::int64_t r = i - d.top, c = j - d.left;
          const float expected = (r >= 0 && r < d.h && c >= 0 && c < d.w) ? x[(p * d.h + r) * d.w + c] : 0.f;
          inside += (r >= 0 && r < d.h && c >= 0 && c < d.w);
          CHECK(y[(p * d.out_h() + i) * d.out_w() + j] == expected);
        }
    CHECK(inside == x.numel());
    const auto dy = test::random_tensor<float>(y.shape(), rng);
    tensor<float> dx(x.shape());
    ops::pad2d_backward<cpu>(d, dy.data(), dx.data());
    for (std::int64_t p = 0; p < d.planes; ++p)
      for (std::int64_t i = 0; i < d.h; ++i)
        for (std::int64_t j = 0; j < d.w; ++j)
          CHECK(dx[(p * d.h + i) * d.w + j] == dy[(p * d.out_h() + i + d.top) * d.out_w() + j + d.left]);
  }
}

TEST_CASE("pad2d gradient matches finite differences (double)") {
  generator rng(4);
  const pad2d_dims d{3, 3, 4, 1, 0, 0, 2};
  auto x = test::random_tensor<double>({d.planes, d.h, d.w}, rng);
  const auto r = test::random_tensor<double>({d.planes, d.out_h(), d.out_w()}, rng);
  tensor<double> y(r.shape()), dx(x.shape());
  auto loss = [&] {
    ops::pad2d_forward<cpu>(d, x.data(), y.data());
    double s = 0;
    for (std::int64_t i = 0; i < y.numel(); ++i) s += y[i] * r[i];
    return s;
  };
  ops::pad2d_backward<cpu>(d, r.data(), dx.data());
  testing::gradcheck_report report;
  testing::check_gradient(loss, x.data(), dx.data(), x.numel(), "x", {}, report);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == x.numel());
}
