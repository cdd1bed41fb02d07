// axpy, dot and divide: values by hand, aliasing, a large buffer against a serial double sum / host loop.
#include "vae/ops/axpy.hpp"

#include "../test_support.hpp"

using namespace vae;

TEST_CASE("axpy: out = y + a·x, in place allowed") {
  tensor<float> x({3}), y({3}), out({3});
  x[0] = 1, x[1] = 2, x[2] = -3;
  y[0] = 0.5f, y[1] = 0, y[2] = 1;
  ops::axpy<cpu>(3, 2.0, x.data(), y.data(), out.data());
  CHECK(out[0] == 2.5f);
  CHECK(out[1] == 4.0f);
  CHECK(out[2] == -5.0f);
  ops::axpy<cpu>(3, -1.0, x.data(), y.data(), y.data());  // y ← y − x
  CHECK(y[0] == -0.5f);
  CHECK(y[2] == 4.0f);
}

TEST_CASE("dot: Σ x·y in double, the same for every chunking") {
  generator rng(2);
  auto x = test::random_tensor<float>({100003}, rng), y = test::random_tensor<float>({100003}, rng);
  double expect = 0;
  for (std::int64_t i = 0; i < x.numel(); ++i) expect += double(x[i]) * double(y[i]);
  CHECK(ops::dot<cpu>(x.numel(), x.data(), y.data()) == doctest::Approx(expect).epsilon(1e-12));
  CHECK(ops::dot<cpu>(0, x.data(), y.data()) == 0.0);
}

TEST_CASE("divide: out = T(double(x) / d), equal to the host loop, in place allowed") {
  generator rng(3);
  auto x = test::random_tensor<float>({1037}, rng);
  tensor<float> expect(x.shape()), out(x.shape());
  for (std::int64_t i = 0; i < x.numel(); ++i) expect[i] = static_cast<float>(x[i] / 7.0);
  ops::divide<cpu>(x.numel(), x.data(), 7.0, out.data());  // 7: the quotient rounds
  std::int64_t equal = 0;
  for (std::int64_t i = 0; i < x.numel(); ++i) equal += out[i] == expect[i];
  CHECK(equal == x.numel());
  x[0] = 3.0f;
  const float second = static_cast<float>(x[1] / 3.0);
  ops::divide<cpu>(x.numel(), x.data(), 3.0, x.data());  // in place
  CHECK(x[0] == 1.0f);
  CHECK(x[1] == second);
}
