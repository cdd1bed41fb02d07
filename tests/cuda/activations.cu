// CUDA activation kernels against the cpu kernel, forward and backward, for every activation policy.
#include "vae/backend/cuda/activations.cuh"
#include "vae/layers/activations.hpp"

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

namespace {

// float32: the device's expf/tanhf/erff/log1pf differ from glibc's by a few ulps (CUDA math guide: ≤ 2–4 ulp),
// i.e. ≤ ~5e-7 relative; atol 1e-6 / rtol 1e-5 covers that and nothing more. double: ≤ 2 ulp → 1e-13.
template <class T>
constexpr double atol() { return std::is_same_v<T, float> ? 1e-6 : 1e-13; }
template <class T>
constexpr double rtol() { return std::is_same_v<T, float> ? 1e-5 : 1e-13; }

template <class T, class Act>
void check_activation(const Act& act, generator& rng) {
  // Scale 4 reaches the saturating tails of sigmoid/tanh/GELU; exact 0s test the kink conventions.
  auto x = random_tensor<T>({3, 1000}, rng, 4.0);
  x[0] = T(0);
  x[1] = T(-0.0);
  x[2] = T(25);  // past Softplus's threshold at beta = 1
  const auto dy = random_tensor<T>({3, 1000}, rng);
  const auto n = x.numel();
  tensor<T> y(x.shape()), dx(x.shape());
  ops::activation_forward<cpu>(act, n, x.data(), y.data());
  ops::activation_backward<cpu>(act, n, x.data(), y.data(), dy.data(), dx.data());

  const auto gx = to<cuda>(x), gdy = to<cuda>(dy);
  tensor<T, cuda> gy(x.shape()), gdx(x.shape());
  ops::activation_forward<cuda>(act, n, gx.data(), gy.data());
  // Backward from the cpu's y, so the derivative is compared on identical inputs.
  const auto gy_ref = to<cuda>(y);
  ops::activation_backward<cuda>(act, n, gx.data(), gy_ref.data(), gdy.data(), gdx.data());
  // Identity, ReLU and LeakyReLU are a copy, a select and one multiply: bit for bit on both backends.
  constexpr bool exact = std::is_same_v<Act, activation::Identity> || std::is_same_v<Act, activation::ReLU> ||
                         std::is_same_v<Act, activation::LeakyReLU>;
  require_close(gy, y, cat(Act::name, " forward"), exact ? 0.0 : atol<T>(), exact ? 0.0 : rtol<T>());
  require_close(gdx, dx, cat(Act::name, " backward"), exact ? 0.0 : atol<T>(), exact ? 0.0 : rtol<T>());
}

}  // namespace

TEST_CASE_TEMPLATE("cuda activation kernels match the cpu kernels", T, float, double) {
  generator rng(21);
  check_activation<T>(activation::Identity{}, rng);
  check_activation<T>(activation::ReLU{}, rng);
  check_activation<T>(activation::LeakyReLU{0.2}, rng);
  check_activation<T>(activation::Sigmoid{}, rng);
  check_activation<T>(activation::Tanh{}, rng);
  check_activation<T>(activation::SiLU{}, rng);
  check_activation<T>(activation::GELU{}, rng);
  check_activation<T>(activation::GELUTanh{}, rng);
  check_activation<T>(activation::Softplus{}, rng);
  check_activation<T>(activation::Softplus{2.0, 5.0}, rng);
}

TEST_CASE("activation layers run on cuda by changing the backend argument") {
  generator rng(22);
  const auto x = random_tensor<float>({4, 50}, rng), dy = random_tensor<float>({4, 50}, rng);
  const auto gx = to<cuda>(x), gdy = to<cuda>(dy);
  GELU<float, cpu> host(gelu_approximation::tanh);
  GELU<float, cuda> device(gelu_approximation::tanh);
  require_close(device.forward(gx), host.forward(x), "GELU(tanh) layer forward", 1e-6, 1e-5);
  require_close(device.backward(gdy), host.backward(dy), "GELU(tanh) layer backward", 1e-6, 1e-5);
  LeakyReLU<float, cuda> leaky(0.1);
  LeakyReLU<float, cpu> leaky_host(0.1);
  require_close(leaky.forward(gx), leaky_host.forward(x), "LeakyReLU layer forward", 0.0, 0.0);
}
