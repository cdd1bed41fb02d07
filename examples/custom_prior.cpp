// A user-written prior: p(z) = Π_j Laplace(z_j; 0, b), implementing the vae::Prior concept (priors/prior.hpp) in
// this file. Its KL to the Gaussian posterior has no closed form in the library, so the VAE takes MonteCarloKL
// (log q(z|x) − log p(z) at the reparameterised sample). `--tiny`: 512 images, 1 epoch.
#include <cmath>
#include <cstdio>
#include <span>
#include <string>
#include <vae/vae.hpp>

struct LaplacePrior {
  double b = 1.0;  // scale: variance 2b²

  // per_row[i] = log p(z_i) = Σ_j −|z_ij|/b − log 2b
  template <class T, class B>
  void log_prob(const vae::tensor<T, B>& z, std::span<double> per_row) const {
    vae::check(static_cast<std::int64_t>(per_row.size()) == z.dim(0), [&] {
      return vae::cat("LaplacePrior::log_prob: expected ", z.dim(0), " rows, got ", per_row.size());
    });
    const std::int64_t d = z.dim(1);
    for (std::int64_t i = 0; i < z.dim(0); ++i) {
      double s = 0;
      for (std::int64_t j = 0; j < d; ++j) s += -std::abs(static_cast<double>(z[i * d + j])) / b - std::log(2 * b);
      per_row[i] = s;
    }
  }
  // ADDS d(Σ_i w_i log p(z_i))/dz = −w_i sign(z)/b into dz (the prior has no parameters of its own).
  template <class T, class B>
  void backward(const vae::tensor<T, B>& z, std::span<const double> row_weight, vae::tensor<T, B>& dz) const {
    const std::int64_t d = z.dim(1);
    for (std::int64_t i = 0; i < z.dim(0); ++i)
      for (std::int64_t j = 0; j < d; ++j) {
        const double v = z[i * d + j], sign = (v > 0) - (v < 0);
        dz[i * d + j] = static_cast<T>(dz[i * d + j] - row_weight[i] * sign / b);
      }
  }
  // Inverse CDF: u ~ U(−½, ½), z = −b·sign(u)·log(1 − 2|u|).
  template <class T, class B>
  void sample(vae::tensor<T, B>& z, vae::generator& rng) const {
    for (std::int64_t i = 0; i < z.numel(); ++i) {
      const double u = rng.uniform() - 0.5;
      z[i] = static_cast<T>(-b * ((u > 0) - (u < 0)) * std::log(1 - 2 * std::abs(u)));
    }
  }
  template <class V>
  void visit_parameters(const std::string&, V&&) {}
};
static_assert(vae::Prior<LaplacePrior, float, vae::cpu>, "LaplacePrior must model vae::Prior");

int main(int argc, char** argv) {
  const bool tiny = argc > 1 && std::string(argv[1]) == "--tiny";
  const int epochs = tiny ? 1 : 5;
  constexpr std::int64_t latent = 16;
  using Model = vae::VAE<vae::MLPEncoder<float>, vae::MLPDecoder<float>, LaplacePrior, vae::MonteCarloKL>;
  Model model(vae::MLPEncoder<float>(784, 512, 256, 2 * latent), vae::MLPDecoder<float>(latent, 256, 512, 784), latent,
              LaplacePrior{.b = 1.0 / std::sqrt(2.0)});  // unit variance, like N(0, 1)
  vae::generator rng(0);
  vae::parameter_store<float> store;
  store.attach(model, rng);
  vae::Adam<float> opt({.lr = 1e-3});

  auto data = vae::data::load_dataset("fashion-mnist", {.limit = tiny ? 512 : 0});
  auto train = vae::data::binarize(data.train_images), test = vae::data::binarize(data.test_images);
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
    std::printf("epoch %d: train loss %.2f, test ELBO %.2f nats\n", epoch, sum / n, model.elbo(test, rng, per));
  }
  vae::tensor<float> pixels;
  model.sample(64, rng, pixels);  // z drawn by LaplacePrior::sample, decoded to Bernoulli means
  pixels.reshape(vae::shape{64, 1, 28, 28});
  vae::io::write_png_grid("custom_prior_samples.png", pixels, 8);
  std::puts("wrote custom_prior_samples.png");
}
