// Swapping a VAE's prior and divergence at compile time: a mixture-of-Gaussians prior needs the Monte-Carlo KL
// (AnalyticGaussianKL would not compile with it, and says so). Trains on Fashion-MNIST; `--tiny`: 512 images, 1 epoch.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vae/vae.hpp>

int main(int argc, char** argv) {
  const bool tiny = argc > 1 && std::string(argv[1]) == "--tiny";
  const int epochs = tiny ? 1 : 2;
  constexpr std::int64_t latent = 16;

  // The only lines that differ from the standard VAE: the Prior, Divergence and Weighting policies.
  using Model = vae::VAE<vae::MLPEncoder<float>, vae::MLPDecoder<float>,
                         vae::MixtureOfGaussiansPrior<float>,  // was StandardNormalPrior
                         vae::MonteCarloKL,                    // was AnalyticGaussianKL
                         vae::BernoulliLikelihood,
                         vae::LinearWarmup>;                   // KL weight 0 → 1 over the first 1000 steps
  Model model(vae::MLPEncoder<float>(784, 512, 256, 2 * latent), vae::MLPDecoder<float>(latent, 256, 512, 784), latent,
              vae::MixtureOfGaussiansPrior<float>(/*components=*/10, latent), {}, {},
              vae::LinearWarmup{/*steps=*/1000, /*beta_max=*/1.0});

  vae::generator rng(0);
  vae::parameter_store<float> store;
  store.attach(model, rng);
  vae::Adam<float> opt({.lr = 1e-3});

  auto data = vae::data::load_dataset("fashion-mnist", {.limit = tiny ? 512 : 0});
  auto train = vae::data::binarize(data.train_images);
  auto test = vae::data::binarize(data.test_images);
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
    const std::int64_t m = std::min<std::int64_t>(1000, test.dim(0));
    std::vector<double> per(m);
    vae::tensor<float> x(vae::shape{m, 784});
    std::copy(test.data(), test.data() + x.numel(), x.data());
    const double elbo = model.elbo(x, rng, per);
    std::printf("epoch %d: train loss %.2f, test ELBO (first %lld images) %.2f nats\n", epoch, sum / n,
                static_cast<long long>(m), elbo);
  }
}
