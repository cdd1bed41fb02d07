// The perceptual slot's concept: NoPerceptual models it and computes nothing; a policy without `enabled` or with
// the wrong loss signature does not model it.
#include "vae/adversarial/perceptual.hpp"

#include <doctest/doctest.h>

namespace perceptual_test {
// A user's policy: squared distance averaged over the batch, gradient written in x̂.
struct SquaredDistance {
  static constexpr bool enabled = true;
  template <class T, class B>
  double loss(const vae::tensor<T, B>& x, const vae::tensor<T, B>& xrec, vae::tensor<T, B>* grad) {
    double sum = 0;
    if (grad) grad->resize(xrec.shape());
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      const double d = static_cast<double>(xrec[i]) - static_cast<double>(x[i]);
      sum += d * d;
      if (grad) (*grad)[i] = static_cast<T>(2 * d / static_cast<double>(x.dim(0)));
    }
    return sum / static_cast<double>(x.dim(0));
  }
};
struct NoEnabledFlag {
  double loss(const vae::tensor<float>&, const vae::tensor<float>&, vae::tensor<float>*) { return 0; }
};
struct WrongSignature {
  static constexpr bool enabled = true;
  double loss(const vae::tensor<float>&) { return 0; }
};
}  // namespace perceptual_test

static_assert(vae::PerceptualLoss<vae::NoPerceptual, float, vae::cpu>);
static_assert(vae::PerceptualLoss<vae::NoPerceptual, double, vae::cpu>);
static_assert(vae::PerceptualLoss<perceptual_test::SquaredDistance, float, vae::cpu>);
static_assert(!vae::PerceptualLoss<perceptual_test::NoEnabledFlag, float, vae::cpu>);
static_assert(!vae::PerceptualLoss<perceptual_test::WrongSignature, float, vae::cpu>);
static_assert(!vae::NoPerceptual::enabled && perceptual_test::SquaredDistance::enabled);

TEST_CASE("NoPerceptual adds nothing and leaves the gradient alone; a user policy plugs into the same slot") {
  vae::tensor<float> x(vae::shape{2, 3}, 0.25f), xrec(vae::shape{2, 3}, 0.75f), grad(vae::shape{2, 3}, 7.0f);
  vae::NoPerceptual none;
  CHECK(none.loss(x, xrec, &grad) == 0.0);
  for (std::int64_t i = 0; i < grad.numel(); ++i) CHECK(grad[i] == 7.0f);
  perceptual_test::SquaredDistance sq;
  CHECK(sq.loss(x, xrec, &grad) == doctest::Approx(3 * 0.25));  // per image 3 × 0.5², averaged over 2 images
  for (std::int64_t i = 0; i < grad.numel(); ++i) CHECK(grad[i] == doctest::Approx(0.5));  // 2 · 0.5 / 2
}
