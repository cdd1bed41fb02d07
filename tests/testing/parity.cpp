// The parity comparison rejects what it must: a planted wrong value, a NaN or infinity on either side, an empty
// comparison; and passes exact and within-tolerance values, also against a genuine PyTorch fixture (the control).
#include "vae/testing/parity.hpp"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "../test_support.hpp"

using namespace vae;

TEST_CASE("parity compare: equal values pass with zero error; within atol + rtol·|expected| passes") {
  const std::vector<double> expected{1.0, -2.0, 0.5, 100.0};
  const auto same = testing::compare(expected.data(), expected.data(), 4, 0.0, 0.0);
  CHECK(same.ok);
  CHECK(same.max_abs_error == 0);
  // Allowed: 1e-5 + 1e-4·|e| = 1e-5 + 1e-2 at 100; 0.9 of that passes.
  std::vector<double> near = expected;
  near[3] += 0.9 * (1e-5 + 1e-4 * 100.0);
  const auto r = testing::compare(near.data(), expected.data(), 4, 1e-5, 1e-4);
  CHECK(r.ok);
  CHECK(r.max_abs_error == doctest::Approx(0.9 * (1e-5 + 1e-2)).epsilon(1e-9));
}

TEST_CASE("parity compare rejects a planted wrong value and says where") {
  const std::vector<float> expected{1.0f, -2.0f, 0.5f, 3.0f};
  std::vector<float> actual = expected;
  actual[2] += 2e-4f;  // the allowance at 0.5 is 1e-5 + 5e-5 = 6e-5
  const auto r = testing::compare(actual.data(), expected.data(), 4, 1e-5, 1e-4);
  CHECK_FALSE(r.ok);
  CHECK(r.worst_index == 2);
  CHECK(r.message.find("at [2]: got 0.5002") != std::string::npos);
}

TEST_CASE("parity compare rejects NaN and infinity in the expected or the actual values, even when they agree") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const std::vector<double> good{1.0, 2.0, 3.0};
  for (const double bad : {nan, inf, -inf}) {
    std::vector<double> planted = good;
    planted[1] = bad;
    CAPTURE(bad);
    const auto e = testing::compare(good.data(), planted.data(), 3, 1e-5, 1e-4);  // a non-finite fixture value
    CHECK_FALSE(e.ok);
    CHECK(e.worst_index == 1);
    const auto a = testing::compare(planted.data(), good.data(), 3, 1e-5, 1e-4);
    CHECK_FALSE(a.ok);
    CHECK(a.worst_index == 1);
    const auto both = testing::compare(planted.data(), planted.data(), 3, 1e-5, 1e-4);
    CHECK_FALSE(both.ok);
  }
}

TEST_CASE("parity compare: an empty comparison fails; bad tolerances are a vae::error") {
  const std::vector<double> v{1.0};
  const auto empty = testing::compare(v.data(), v.data(), 0, 1e-5, 1e-4);
  CHECK_FALSE(empty.ok);
  CHECK(empty.message == "nothing compared (0 elements): an empty comparison cannot pass");
  CHECK_THROWS_WITH_AS(testing::compare(v.data(), v.data(), 1, -1e-5, 1e-4),
                       doctest::Contains("atol and rtol must be finite and non-negative, got -1e-05 and 0.0001"),
                       vae::error);
  CHECK_THROWS_AS(testing::compare(v.data(), v.data(), 1, 1e-5, std::nan("")), vae::error);
}

TEST_CASE("parity against a PyTorch fixture: its own values pass, one value off by 1e-3 relative fails") {
  const auto f = test::golden("linear");
  auto y = f.at("y").to_tensor<float>();
  const auto same = testing::compare_with_fixture(y, f, "y");
  CHECK(same.ok);
  CHECK(same.max_abs_error == 0);
  y[y.numel() - 1] *= 1.001f;
  const auto off = testing::compare_with_fixture(y, f, "y");
  CHECK_FALSE(off.ok);
  CHECK(off.worst_index == y.numel() - 1);
  tensor<float> wrong_shape({y.numel()});
  CHECK_THROWS_WITH_AS(testing::compare_with_fixture(wrong_shape, f, "y"),
                       doctest::Contains("parity: fixture tensor 'y'"), vae::error);
}
