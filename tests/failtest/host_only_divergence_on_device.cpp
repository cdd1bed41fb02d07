// expect-error: MonteCarloKL: host backends only for now
// A VAE over a device backend (a stand-in with device-like memory, so g++ can check this without nvcc) whose
// divergence still indexes host memory must be rejected at compile time with the policy's name.
#include "vae/decoders/mlp_decoder.hpp"
#include "vae/divergences/monte_carlo_kl.hpp"
#include "vae/encoders/mlp_encoder.hpp"
#include "vae/models/vae.hpp"

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
  vae::VAE<vae::MLPEncoder<float, B>, vae::MLPDecoder<float, B>, vae::StandardNormalPrior, vae::MonteCarloKL,
           vae::BernoulliLikelihood, vae::ConstantBeta, float, B>
      model(vae::MLPEncoder<float, B>(4, 3, 3, 4), vae::MLPDecoder<float, B>(2, 3, 3, 4), 2);
  vae::tensor<float, B> x(vae::shape{1, 4});
  vae::generator rng(1);
  return static_cast<int>(model.train_step_loss(x, rng, 0));
}
