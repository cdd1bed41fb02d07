// A VAE around the user's own encoder and decoder classes: any type with value_type, backend, forward, backward
// and visit_parameters (the vae::Layer contract of core/concepts.hpp) plugs into vae::VAE. Here each is two
// Linear layers around a tanh, with the backward pass chained in reverse by hand. `--tiny`: 512 images, 1 epoch.
#include <cstdio>
#include <string>
#include <vae/vae.hpp>

// x [N, in] → tanh(x W1ᵀ + b1) → [N, out]. The encoder's out is 2·latent, read by the VAE as (mu, log σ²).
template <class T = float>
class TwoLayer {
 public:
  using value_type = T;
  using backend = vae::cpu;
  TwoLayer(std::int64_t in, std::int64_t hidden, std::int64_t out) : fc1_(in, hidden), fc2_(hidden, out) {}

  const vae::tensor<T>& forward(const vae::tensor<T>& x) { return fc2_.forward(act_.forward(fc1_.forward(x))); }
  // Gradients flow back through the same layers in reverse; each layer ADDS into its parameter gradients.
  const vae::tensor<T>& backward(const vae::tensor<T>& dy) {
    return fc1_.backward(act_.backward(fc2_.backward(dy)));
  }
  template <class V>
  void visit_parameters(const std::string& prefix, V&& visit) {  // names as nn.Module attributes: fc1.weight, ...
    fc1_.visit_parameters(prefix + "fc1.", visit);
    fc2_.visit_parameters(prefix + "fc2.", visit);
  }

 private:
  vae::Linear<T> fc1_;
  vae::Tanh<T> act_;
  vae::Linear<T> fc2_;
};
static_assert(vae::Layer<TwoLayer<float>>, "TwoLayer must model vae::Layer to be an encoder or decoder");

int main(int argc, char** argv) {
  const bool tiny = argc > 1 && std::string(argv[1]) == "--tiny";
  const int epochs = tiny ? 1 : 5;
  constexpr std::int64_t latent = 16;
  // Prior, divergence and likelihood keep their defaults: N(0, I), the analytic KL, Bernoulli pixels.
  vae::VAE<TwoLayer<float>, TwoLayer<float>> model(TwoLayer<float>(784, 400, 2 * latent),
                                                  TwoLayer<float>(latent, 400, 784), latent);
  vae::generator rng(0);
  vae::parameter_store<float> store;
  store.attach(model, rng);  // enc.fc1.weight, ..., dec.fc2.bias
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
    const double elbo = model.elbo(test, rng, per);
    std::printf("epoch %d: train loss %.2f, test ELBO %.2f nats (%lld images)\n", epoch, sum / n, elbo,
                static_cast<long long>(test.dim(0)));
  }
  for (const auto& e : store.entries()) std::printf("  %s %s\n", e.name.c_str(), e.shape.str().c_str());
}
