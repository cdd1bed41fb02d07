// A plain autoencoder: an MLP encoder to a 32-d code and back, trained with a BCE reconstruction loss on
// Fashion-MNIST. Writes autoencoder.png (test images over their reconstructions), autoencoder.safetensors (the
// weights, PyTorch names) and autoencoder_check.safetensors (inputs and vae's reconstructions, which
// examples/load_in_pytorch.py compares with PyTorch's). `--tiny`: 512 images, 1 epoch (the CI run).
#include <cstdio>
#include <string>
#include <vae/vae.hpp>

int main(int argc, char** argv) {
  const bool tiny = argc > 1 && std::string(argv[1]) == "--tiny";
  const int epochs = tiny ? 1 : 5;
  vae::Autoencoder<vae::MLPEncoder<float>, vae::MLPDecoder<float>, vae::losses::BCEWithLogits> model(
      vae::MLPEncoder<float>(784, 512, 256, 32), vae::MLPDecoder<float>(32, 256, 512, 784));

  vae::generator rng(0);
  vae::parameter_store<float> store;
  store.attach(model, rng, "");  // names: enc.0.weight ... dec.4.bias
  vae::Adam<float> opt({.lr = 1e-3});

  auto data = vae::data::load_dataset("fashion-mnist", {.limit = tiny ? 512 : 0});  // [N, 1, 28, 28] in [0, 1]
  auto& train = data.train_images;
  train.reshape(vae::shape{train.dim(0), 784});
  vae::data::batch_sampler sampler(train.dim(0), 128, /*seed=*/1, /*drop_last=*/true);
  std::vector<std::int64_t> idx;
  vae::tensor<float> batch;
  for (int epoch = 1; epoch <= epochs; ++epoch, sampler.new_epoch()) {
    double sum = 0;
    std::int64_t n = 0;
    while (sampler.next(idx)) {
      vae::data::gather(train, idx, batch);
      store.zero_grad();
      sum += model.train_step_loss(batch);
      opt.step(store);
      ++n;
    }
    std::printf("epoch %d: reconstruction loss %.2f nats/image\n", epoch, sum / n);
  }

  vae::tensor<float> x(vae::shape{16, 784}), rec;
  std::copy(data.test_images.data(), data.test_images.data() + x.numel(), x.data());
  model.reconstruct(x, rec);
  vae::tensor<float> grid(vae::shape{32, 1, 28, 28});
  std::copy(x.data(), x.data() + x.numel(), grid.data());
  std::copy(rec.data(), rec.data() + rec.numel(), grid.data() + x.numel());
  vae::io::write_png_grid("autoencoder.png", grid, 16);
  vae::save_parameters("autoencoder.safetensors", store);
  vae::io::safetensors_writer check;
  check.add("x", x);
  check.add("reconstruction", rec);
  check.save("autoencoder_check.safetensors");
  std::puts("wrote autoencoder.png, autoencoder.safetensors and autoencoder_check.safetensors");
}
