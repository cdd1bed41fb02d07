// flush_denormals: inside the scope denormal results and operands are zero, outside it the thread's mode is back; the
// kernels that open one (Adam's float step, the Bernoulli likelihood) leave no denormal behind.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "vae/backend/cpu/flush_denormals.hpp"
#include "vae/backend/cpu/likelihood_terms.hpp"
#include "vae/backend/cpu/adam_step.hpp"
#include "vae/ops/adam_step.hpp"

namespace flush_denormals_test {
bool denormal(float v) { return v != 0.0f && std::abs(v) < std::numeric_limits<float>::min(); }
}  // namespace flush_denormals_test

TEST_CASE("flush_denormals: denormal results and operands are zero inside the scope, the mode is restored after it") {
  using flush_denormals_test::denormal;
  volatile float tiny = std::numeric_limits<float>::min();  // the smallest normal float; volatile: computed at run time
  volatile float half = 0.5f;
  const float outside_before = tiny * half;
  REQUIRE(denormal(outside_before));  // the default mode keeps denormals (the test needs it to mean anything)
  {
    const vae::cpu_detail::flush_denormals flush;
    const float inside = tiny * half;
    CHECK(inside == 0.0f);
    volatile float d = outside_before;
    CHECK(d * 1.0f == 0.0f);  // a denormal operand reads as zero
  }
  CHECK(denormal(tiny * half));
}

TEST_CASE("Adam's step and the Bernoulli likelihood leave no denormal behind") {
  using flush_denormals_test::denormal;
  // A first moment one step from the denormal range and a zero gradient: β1·m would be denormal.
  const std::int64_t n = 40;
  std::vector<float> p(n, 0.25f), g(n, 0.0f), m(n, 2.0f * std::numeric_limits<float>::min()), v(n, 1e-3f);
  vae::adam_step_args<float> a{};
  a.n = n;
  a.param = p.data();
  a.grad = g.data();
  a.exp_avg = m.data();
  a.exp_avg_sq = v.data();
  a.beta1 = 0.4f;
  a.one_minus_beta1 = 0.6f;
  a.beta2 = 0.999f;
  a.one_minus_beta2 = 0.001f;
  a.step_size = 1e-3f;
  a.bias_correction2_sqrt = 1.0f;
  a.eps = 1e-8f;
  a.decay_factor = 1.0f;
  vae::ops::adam_step<vae::cpu>(a);
  std::int64_t left = 0;
  for (const float x : m) left += denormal(x);
  CHECK(left == 0);
  CHECK(p[0] == 0.25f);  // an update of that size changes no weight either way
  // Logits of −95: exp(−95) ≈ 5.5e−42 is denormal, and so would be σ(o) − x for x = 0.
  std::vector<float> out(33, -95.0f), x(33, 0.0f), d(33, 1.0f);
  const double nll = vae::cpu_detail::bernoulli_row_nll(out.data(), x.data(), 33);
  vae::cpu_detail::bernoulli_row_grad(out.data(), x.data(), 1.0, 33, d.data());
  std::int64_t grad_denormal = 0;
  for (const float y : d) grad_denormal += denormal(y);
  CHECK(grad_denormal == 0);
  CHECK(nll >= 0.0);
  CHECK(nll < 1e-30);
}
