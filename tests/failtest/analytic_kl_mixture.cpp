// expect-error: AnalyticGaussianKL needs a Gaussian prior (StandardNormalPrior or LearnableGaussianPrior), got MixtureOfGaussiansPrior: use MonteCarloKL
// A VAE pairing the closed-form KL with a mixture prior must be rejected at compile time, naming the pair.
#include "vae/decoders/mlp_decoder.hpp"
#include "vae/divergences/monte_carlo_kl.hpp"
#include "vae/encoders/mlp_encoder.hpp"
#include "vae/models/vae.hpp"
#include "vae/priors/mixture_of_gaussians.hpp"

int main() {
#if defined(VAE_FAILTEST_CONTROL)
  using Divergence = vae::MonteCarloKL;
#else
  using Divergence = vae::AnalyticGaussianKL;
#endif
  vae::VAE<vae::MLPEncoder<float>, vae::MLPDecoder<float>, vae::MixtureOfGaussiansPrior<float>, Divergence> model(
      vae::MLPEncoder<float>(4, 3, 3, 4), vae::MLPDecoder<float>(2, 3, 3, 4), 2,
      vae::MixtureOfGaussiansPrior<float>(3, 2));
  return static_cast<int>(model.latent());
}
