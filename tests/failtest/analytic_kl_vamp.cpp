// expect-error: AnalyticGaussianKL needs a Gaussian prior (StandardNormalPrior or LearnableGaussianPrior), got VampPrior: use MonteCarloKL
// The closed-form KL called directly with a VampPrior (a mixture of encoder posteriors) must not compile.
#include "vae/divergences/analytic_kl.hpp"
#include "vae/divergences/monte_carlo_kl.hpp"
#include "vae/priors/vamp.hpp"

int main() {
  vae::tensor<float> t({2, 2});
  vae::VampPrior<float> prior(3, 4);
  vae::generator rng(0);
  vae::divergence_stats stats;
#if defined(VAE_FAILTEST_CONTROL)
  vae::MonteCarloKL kl;
#else
  vae::AnalyticGaussianKL kl;
#endif
  kl.forward(t, t, t, t, prior, rng, stats);
  return 0;
}
