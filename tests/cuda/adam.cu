// CUDA fused Adam/AdamW step against a host loop of PyTorch's formula, over several steps.
#include "vae/backend/cuda/adam.cuh"

#include <cmath>

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

namespace {
// torch.optim.Adam/AdamW (single-tensor path) written out on the host, in T.
template <class T>
void adam_reference(const cuda_detail::adam_hyper& h, std::int64_t t, tensor<T>& p, const tensor<T>& g, tensor<T>& m,
                    tensor<T>& v) {
  const double bc1 = 1.0 - std::pow(h.beta1, double(t)), bc2 = 1.0 - std::pow(h.beta2, double(t));
  const T step_size = static_cast<T>(h.lr / bc1), bc2_sqrt = static_cast<T>(std::sqrt(bc2));
  const T lr = static_cast<T>(h.lr), b1 = static_cast<T>(h.beta1), b2 = static_cast<T>(h.beta2),
          eps = static_cast<T>(h.eps), wd = static_cast<T>(h.weight_decay);
  for (std::int64_t i = 0; i < p.numel(); ++i) {
    T pi = p[i], gi = g[i];
    if (wd != T(0)) {
      if (h.decoupled_weight_decay) pi *= T(1) - lr * wd;
      else gi += wd * pi;
    }
    m[i] = b1 * m[i] + (T(1) - b1) * gi;
    v[i] = b2 * v[i] + (T(1) - b2) * gi * gi;
    p[i] = pi - step_size * m[i] / (std::sqrt(v[i]) / bc2_sqrt + eps);
  }
}
}  // namespace

TEST_CASE_TEMPLATE("cuda adam_step matches PyTorch's Adam and AdamW formula over 5 steps", T, float, double) {
  // float32: per step a few roundings (device FMA contraction vs host), parameters of size ~1 moved by lr
  // steps of 1e-2; 1e-6 absolute / 1e-5 relative after 5 steps. double: 1e-13.
  const double atol = std::is_same_v<T, float> ? 1e-6 : 1e-13, rtol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
  for (const bool decoupled : {false, true}) {
    cuda_detail::adam_hyper h;
    h.lr = 1e-2;
    h.weight_decay = 0.1;
    h.decoupled_weight_decay = decoupled;
    generator rng(41);
    const std::int64_t n = 10007;
    auto p = random_tensor<T>({n}, rng);
    tensor<T> m({n}, T(0)), v({n}, T(0));
    auto gp = to<cuda>(p), gm = to<cuda>(m), gv = to<cuda>(v);
    for (std::int64_t t = 1; t <= 5; ++t) {
      const auto g = random_tensor<T>({n}, rng, 0.1);
      const auto gg = to<cuda>(g);
      adam_reference(h, t, p, g, m, v);
      cuda_detail::adam_step(h, t, n, gp.data(), gg.data(), gm.data(), gv.data());
    }
    const char* which = decoupled ? "AdamW" : "Adam";
    require_close(gp, p, cat(which, " parameters"), atol, rtol);
    require_close(gm, m, cat(which, " first moment"), atol, rtol);
    // v ≈ (1 − β2)·Σg² ≈ 1e-5 here, so an absolute bound of 1e-6 would say nothing: relative only.
    require_close(gv, v, cat(which, " second moment"), std::is_same_v<T, float> ? 1e-12 : 1e-20, rtol);
  }
}

TEST_CASE("cuda adam_step rejects step 0") {
  cuda_detail::adam_hyper h;
  CHECK_THROWS_WITH_AS(cuda_detail::adam_step<float>(h, 0, 0, nullptr, nullptr, nullptr, nullptr),
                       doctest::Contains("starts at 1"), vae::error);
}
