// Consumer smoke test: a Linear forward through the installed headers, checked against a hand computation.
#include <cmath>
#include <cstdio>
#include <vae/vae.hpp>  // the umbrella header, as a user writes it

int main() {
  vae::Linear<float> layer(3, 2);
  vae::generator rng(0);
  vae::parameter_store<float> store;
  store.attach(layer, rng, "fc.");
  vae::tensor<float> x(vae::shape{4, 3});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = 0.1f * static_cast<float>(i) - 0.5f;
  const auto& y = layer.forward(x);
  if (y.shape() != vae::shape{4, 2}) {
    std::printf("wrong output shape %s\n", y.shape().str().c_str());
    return 1;
  }
  const float* w = layer.weight().value;
  const float* b = layer.bias().value;
  double worst = 0;
  for (int r = 0; r < 4; ++r)
    for (int o = 0; o < 2; ++o) {
      double ref = b[o];
      for (int k = 0; k < 3; ++k) ref += double(x[r * 3 + k]) * w[o * 3 + k];
      worst = std::fmax(worst, std::fabs(ref - y[r * 2 + o]));
    }
  std::printf("vae %s consumer: Linear(3,2) forward, max abs error %.3g\n", vae::version_string, worst);
  return worst < 1e-5 ? 0 : 1;
}
