// The op checks reject what they must: a planted wrong backward (finite differences), a case with nothing to
// difference or whose gradient is all zero, a forward that rounds twice (exactness), a wrong host formula
// (reference), and a second backend that differs by one ulp-scale error (parity, with a host backend that skews one
// value); each control (the same case without the plant) passes.
#include "vae/testing/op_checks.hpp"

#include <doctest/doctest.h>

#include <string>
#include <type_traits>

using namespace vae;
using namespace vae::testing;

namespace op_checks_test {

// A host backend that is not cpu, so a case can tell the two apart (the parity check's second backend).
struct skewed_cpu : cpu {
  static constexpr const char* name = "skewed_cpu";
};

enum class plant { none, backward, zero_gradient, no_inputs, double_rounding, reference, skew };

// y = x² (elementwise) with dx = 2x·seed, and one planted bug.
template <plant P>
struct square_case {
  static constexpr const char* op = "square_op";
  static constexpr const char* name = "square";
  static constexpr bool on_cuda = false;
  static constexpr op_case_checks checks{.exact = P == plant::double_rounding};
  struct config {
    std::int64_t n;
  };
  static std::vector<config> configs() { return {{9}}; }
  static std::string describe(const config& c) { return cat(c.n, " values"); }
  static op_signature signature(const config& c) {
    if (P == plant::no_inputs)
      return {{{.name = "x", .numel = c.n, .differentiable = false}}, {{.name = "y", .numel = c.n}}};
    return {{{.name = "x", .numel = c.n}}, {{.name = "y", .numel = c.n}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    std::vector<T> x(static_cast<std::size_t>(c.n)), y(x.size());
    B::copy_to_host(x.data(), io.in(0), x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      if constexpr (P == plant::double_rounding && std::is_same_v<T, float>)
        y[i] = static_cast<T>(static_cast<float>(x[i] * 1.1f) * x[i] / 1.1f);  // not exactly x²
      else if constexpr (P == plant::zero_gradient)
        y[i] = T(1);
      else
        y[i] = x[i] * x[i];
    }
    if constexpr (P == plant::skew && std::is_same_v<B, skewed_cpu>) y[3] *= T(1 + 1e-3);
    B::copy_from_host(io.out(0), y.data(), y.size());
  }
  template <class B, class T>
  static void backward(const config& c, op_buffers<T, B>& io) {
    std::vector<T> x(static_cast<std::size_t>(c.n)), s(x.size()), g(x.size());
    B::copy_to_host(x.data(), io.in(0), x.size());
    B::copy_to_host(s.data(), io.seed(0), s.size());
    for (std::size_t i = 0; i < x.size(); ++i) g[i] = P == plant::zero_gradient ? T(0) : T(2) * x[i] * s[i];
    if (P == plant::backward) g[5] *= T(1.001);
    B::copy_from_host(io.grad(0), g.data(), g.size());
  }
  static std::vector<std::vector<double>> reference(const config&, const std::vector<std::vector<double>>& in) {
    std::vector<double> y(in[0].size());
    for (std::size_t i = 0; i < y.size(); ++i)
      y[i] = in[0][i] * in[0][i] * (P == plant::reference && i == 2 ? 1.001 : 1.0);
    return {y};
  }
};

}  // namespace op_checks_test

using op_checks_test::plant;
using op_checks_test::skewed_cpu;
using op_checks_test::square_case;

TEST_CASE("check_op_gradient: the control passes; a planted wrong derivative and checks of nothing fail") {
  const auto ok = check_op_gradient<square_case<plant::none>>({9}, 1);
  CHECK_MESSAGE(ok.ok, ok.summary());
  CHECK(ok.checked == 9);
  const auto wrong = check_op_gradient<square_case<plant::backward>>({9}, 1);
  CHECK_FALSE(wrong.ok);
  CHECK(wrong.failures.find("x[5]") != std::string::npos);
  const auto none = check_op_gradient<square_case<plant::no_inputs>>({9}, 1);
  CHECK_FALSE(none.ok);
  CHECK(none.checked == 0);
  CHECK(none.failures.find("no differentiable input") != std::string::npos);
  const auto zero = check_op_gradient<square_case<plant::zero_gradient>>({9}, 1);
  CHECK_FALSE(zero.ok);
  CHECK(zero.failures.find("are zero") != std::string::npos);
}

TEST_CASE("check_op_exact: equality holds for x² and fails for a forward that rounds differently in float") {
  const auto ok = check_op_exact<square_case<plant::none>>({9}, 2);
  CHECK_MESSAGE(ok.ok, ok.message);
  CHECK(ok.checked == 9);
  const auto wrong = check_op_exact<square_case<plant::double_rounding>>({9}, 2);
  CHECK_FALSE(wrong.ok);
}

TEST_CASE("check_op_reference: a host formula off by 1e-3 at one element fails") {
  CHECK(check_op_reference<square_case<plant::none>>({9}, 3).ok);
  const auto wrong = check_op_reference<square_case<plant::reference>>({9}, 3);
  CHECK_FALSE(wrong.ok);
  CHECK(wrong.message.find("[2]") != std::string::npos);
}

TEST_CASE("check_op_parity: a second backend off by 1e-3 relative at one output fails; the same backend passes") {
  const auto same = check_op_parity<square_case<plant::skew>, cpu, cpu, float>({9}, 4);
  CHECK_MESSAGE(same.ok, same.message);
  CHECK(same.checked == 27);  // y, x after the call, dx
  const auto skewed = check_op_parity<square_case<plant::skew>, skewed_cpu, cpu, float>({9}, 4);
  CHECK_FALSE(skewed.ok);
  CHECK(skewed.message.find("skewed_cpu vs cpu y") != std::string::npos);
}
