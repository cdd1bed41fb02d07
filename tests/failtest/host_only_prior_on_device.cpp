// expect-error: MixtureOfGaussiansPrior: host backends only for now
// A prior that still indexes host memory, instantiated over a device backend (a stand-in with device-like memory,
// so g++ can check this without nvcc), must be rejected at compile time with its name.
#include "vae/priors/mixture_of_gaussians.hpp"

struct stand_in_device_memory {};
struct stand_in_device : vae::cpu {
  using memory_space = stand_in_device_memory;
};

int main() {
#if defined(VAE_FAILTEST_CONTROL)
  using B = vae::cpu;
#else
  using B = stand_in_device;
#endif
  vae::MixtureOfGaussiansPrior<float, B> prior(3, 2);
  vae::tensor<float, B> z(vae::shape{1, 2});
  vae::generator rng(1);
  prior.sample(z, rng);
  return 0;
}
