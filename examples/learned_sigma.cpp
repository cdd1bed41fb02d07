// Swapping the likelihood: a VAE on grey-level (not binarised) Fashion-MNIST with a Gaussian likelihood whose one
// σ is learned with the network ("likelihood.log_sigma"), instead of Bernoulli pixels. Only the LikelihoodP
// argument changes; GaussianLearnedPixelSigma (a σ per pixel, the decoder emitting 2·784 values) is the next step.
// `--tiny`: 512 images, 1 epoch.
#include <cmath>
#include <cstdio>
#include <string>
#include <vae/vae.hpp>

int main(int argc, char** argv) {
  const bool tiny = argc > 1 && std::string(argv[1]) == "--tiny";
  const int epochs = tiny ? 1 : 5;
  constexpr std::int64_t latent = 16;
  using Model = vae::VAE<vae::MLPEncoder<float>, vae::MLPDecoder<float>, vae::StandardNormalPrior,
                         vae::AnalyticGaussianKL, vae::GaussianLearnedGlobalSigma<float>>;  // was BernoulliLikelihood
  Model model(vae::MLPEncoder<float>(784, 512, 256, 2 * latent), vae::MLPDecoder<float>(latent, 256, 512, 784),
              latent);
  vae::generator rng(0);
  vae::parameter_store<float> store;
  store.attach(model, rng);  // ..., likelihood.log_sigma [1], initialised to 0 (σ = 1)
  vae::Adam<float> opt({.lr = 1e-3});

  auto data = vae::data::load_dataset("fashion-mnist", {.limit = tiny ? 512 : 0});
  auto& train = data.train_images;
  auto& test = data.test_images;
  train.reshape(vae::shape{train.dim(0), 784});
  test.reshape(vae::shape{test.dim(0), 784});
  vae::data::batch_sampler sampler(train.dim(0), 128, /*seed=*/1, /*drop_last=*/true);
  std::vector<std::int64_t> idx;
  vae::tensor<float> batch;
  std::int64_t step = 0;
  for (int epoch = 1; epoch <= epochs; ++epoch, sampler.new_epoch()) {
    double sum = 0;
    std::int64_t n = 0;
    while (sampler.next(idx)) {
      vae::data::gather(train, idx, batch);
      store.zero_grad();
      sum += model.train_step_loss(batch, rng, step++);
      opt.step(store);
      ++n;
    }
    std::vector<double> per(test.dim(0));
    const double elbo = model.elbo(test, rng, per);  // a density: positive values are possible for continuous x
    const double sigma = std::exp(static_cast<double>(model.likelihood().log_sigma().value[0]));
    std::printf("epoch %d: train loss %.2f, test ELBO %.2f nats, learned sigma %.4f\n", epoch, sum / n, elbo, sigma);
  }
  vae::tensor<float> pixels;
  model.sample(64, rng, pixels);  // the likelihood's mean: the decoder output
  pixels.reshape(vae::shape{64, 1, 28, 28});
  vae::io::write_png_grid("learned_sigma_samples.png", pixels, 8);
  std::puts("wrote learned_sigma_samples.png");
}
