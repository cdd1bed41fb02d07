// CUDA loss kernels (MSE, L1, BCE-with-logits, cross-entropy) against the cpu kernels: value, dx, per-element
// losses for every reduction; cross-entropy with int32/int64 targets, ignore_index and a bad target.
#include "vae/backend/cuda/losses.cuh"

#include <cmath>

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

namespace {

// Both backends evaluate every per-element loss and gradient in double (device exp/log1p within 1–2 double ulps
// of glibc) and round once to T, so per-element outputs agree to ~1 float ulp: float atol 1e-6 / rtol 1e-6,
// double 1e-13 / 1e-12. The returned value is a double sum of the same terms in another order: relative 1e-12.
template <class T>
double out_atol() { return std::is_same_v<T, float> ? 1e-6 : 1e-13; }
template <class T>
double out_rtol() { return std::is_same_v<T, float> ? 1e-6 : 1e-12; }

void check_value(double device, double host, const std::string& label) {
  const double err = std::abs(device - host);
  MESSAGE("cuda vs cpu " << label << " value: " << device << " vs " << host << " (abs err " << err << ")");
  CHECK_MESSAGE(err <= 1e-12 * std::abs(host) + 1e-12, label << ": " << device << " vs " << host);
}

template <class T, class Loss>
void check_elementwise(const Loss& loss, std::int64_t n, generator& rng) {
  auto x = random_tensor<T>({n}, rng, 3.0), t = random_tensor<T>({n}, rng, 3.0);
  if constexpr (std::is_same_v<Loss, losses::BCEWithLogits>)  // targets are probabilities
    for (std::int64_t i = 0; i < n; ++i) t[i] = T(1) / (T(1) + std::exp(-t[i]));
  x[0] = t[0];  // L1's kink: derivative 0 on both sides
  const auto gx = to<cuda>(x), gt = to<cuda>(t);
  for (const auto r : {loss_reduction::none, loss_reduction::mean, loss_reduction::sum}) {
    const std::string label = cat(Loss::name, " n=", n, " reduction ", static_cast<int>(r));
    tensor<T> dx({n}), per({n}, T(0));
    tensor<T, cuda> gdx({n}), gper({n}, T(0));
    const double v = ops::elementwise_loss<cpu>(loss, n, x.data(), t.data(), r, dx.data(),
                                                r == loss_reduction::none ? per.data() : nullptr);
    const double gv = ops::elementwise_loss<cuda>(loss, n, gx.data(), gt.data(), r, gdx.data(),
                                                  r == loss_reduction::none ? gper.data() : nullptr);
    check_value(gv, v, label);
    require_close(gdx, dx, label + " dx", out_atol<T>(), out_rtol<T>());
    require_close(gper, per, label + " per-element", out_atol<T>(), out_rtol<T>());
  }
  // Value only (dx and per_element null).
  const double v = ops::elementwise_loss<cpu>(loss, n, x.data(), t.data(), loss_reduction::sum, (T*)nullptr);
  const double gv = ops::elementwise_loss<cuda>(loss, n, gx.data(), gt.data(), loss_reduction::sum, (T*)nullptr);
  check_value(gv, v, cat(Loss::name, " value only"));
}

template <class T, class I>
void check_cross_entropy(std::int64_t rows, std::int64_t classes, generator& rng) {
  const auto x = random_tensor<T>({rows, classes}, rng, 4.0);
  tensor<I> t({rows});
  for (std::int64_t i = 0; i < rows; ++i)
    t[i] = i % 5 == 3 ? static_cast<I>(default_ignore_index) : static_cast<I>((i * 7 + 3) % classes);
  const auto gx = to<cuda>(x);
  const auto gt = to<cuda>(t);
  for (const auto r : {loss_reduction::none, loss_reduction::mean, loss_reduction::sum}) {
    const std::string label = cat("cross_entropy ", rows, "x", classes, " int", 8 * sizeof(I), " reduction ",
                                  static_cast<int>(r));
    tensor<T> dx({rows, classes}), per({rows}, T(0));
    tensor<T, cuda> gdx({rows, classes}), gper({rows}, T(0));
    const double v = ops::cross_entropy_loss<cpu>(rows, classes, x.data(), t.data(), r, dx.data(),
                                                  r == loss_reduction::none ? per.data() : nullptr);
    const double gv = ops::cross_entropy_loss<cuda>(rows, classes, gx.data(), gt.data(), r, gdx.data(),
                                                    r == loss_reduction::none ? gper.data() : nullptr);
    check_value(gv, v, label);
    require_close(gdx, dx, label + " dx", out_atol<T>(), out_rtol<T>());
    require_close(gper, per, label + " per-element", out_atol<T>(), out_rtol<T>());
  }
}

}  // namespace

TEST_CASE_TEMPLATE("cuda elementwise losses match the cpu kernel for every reduction", T, float, double) {
  generator rng(71);
  for (const std::int64_t n : {1, 255, 256, 257, 10007}) {
    check_elementwise<T>(losses::MSE{}, n, rng);
    check_elementwise<T>(losses::L1{}, n, rng);
    check_elementwise<T>(losses::BCEWithLogits{}, n, rng);
    check_elementwise<T>(losses::Hinge{}, n, rng);
    check_elementwise<T>(losses::NegatedProduct{}, n, rng);
    check_elementwise<T>(losses::ExcessSquared{}, n, rng);
    check_elementwise<T>(losses::DeficitSquared{}, n, rng);
  }
}

TEST_CASE_TEMPLATE("cuda cross_entropy matches the cpu kernel (int32 and int64 targets, ignore_index)", T, float,
                   double) {
  generator rng(72);
  check_cross_entropy<T, std::int64_t>(37, 10, rng);
  check_cross_entropy<T, std::int32_t>(37, 10, rng);
  check_cross_entropy<T, std::int64_t>(6, 1000, rng);  // several classes per thread
}

TEST_CASE("cuda cross_entropy: a bad target throws, all rows ignored gives NaN for mean") {
  generator rng(73);
  const auto gx = to<cuda>(random_tensor<float>({3, 4}, rng));
  tensor<std::int64_t> bad({3});
  bad[0] = 1;
  bad[1] = 4;
  bad[2] = 0;
  const auto gbad = to<cuda>(bad);
  CHECK_THROWS_WITH_AS(ops::cross_entropy_loss<cuda>(3, 4, gx.data(), gbad.data(), loss_reduction::mean,
                                                     (float*)nullptr),
                       doctest::Contains("target 4 at position 1 is out of range for 4 classes"), vae::error);
  tensor<std::int64_t> ignored({3}, default_ignore_index);
  const auto gignored = to<cuda>(ignored);
  tensor<float, cuda> gdx({3, 4});
  CHECK(std::isnan(ops::cross_entropy_loss<cuda>(3, 4, gx.data(), gignored.data(), loss_reduction::mean, gdx.data())));
  require_close(gdx, tensor<float>({3, 4}, 0.f), "all-ignored dx", 0.0, 0.0);
}

TEST_CASE("cuda loss tensor forms: mse_loss and cross_entropy_loss on device tensors") {
  generator rng(74);
  const auto x = random_tensor<float>({4, 9}, rng), t = random_tensor<float>({4, 9}, rng);
  tensor<float> dx;
  tensor<float, cuda> gdx;
  const double v = ops::mse_loss(x, t, &dx);
  const double gv = ops::mse_loss(to<cuda>(x), to<cuda>(t), &gdx);
  check_value(gv, v, "mse_loss tensor form");
  require_close(gdx, dx, "mse_loss tensor form dx", 1e-6, 1e-6);
  tensor<std::int32_t> labels({4});
  for (std::int64_t i = 0; i < 4; ++i) labels[i] = static_cast<std::int32_t>(i * 2);
  const double ce = ops::cross_entropy_loss(x, labels, &dx);
  const double gce = ops::cross_entropy_loss(to<cuda>(x), to<cuda>(labels), &gdx);
  check_value(gce, ce, "cross_entropy_loss tensor form");
  require_close(gdx, dx, "cross_entropy_loss tensor form dx", 1e-6, 1e-6);
}
