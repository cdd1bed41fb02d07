// The MLP VAE on the GPU: the program is the host one with one template argument changed, Backend = vae::cuda.
// Parameters, gradients, Adam's state and every activation stay in device memory; batches are gathered on the host
// and uploaded. Built with nvcc when VAE_WITH_CUDA is on; without a usable GPU it says so and exits 77 (skipped).
// `--tiny`: 512 images, 1 epoch.
#include <cuda_runtime.h>

#include <cstdio>
#include <string>
#include <vae/backend/cuda.hpp>
#include <vae/backend/cuda/kernels.cuh>
#include <vae/backend/cuda/transfer.cuh>
#include <vae/vae.hpp>

using Backend = vae::cuda;  // vae::cpu runs the same program on the host

int main(int argc, char** argv) {
  int devices = 0;
  if (const cudaError_t status = cudaGetDeviceCount(&devices); status != cudaSuccess || devices == 0) {
    std::printf("skipped: no usable CUDA device (%s)\n",
                status != cudaSuccess ? cudaGetErrorString(status) : "cudaGetDeviceCount found 0 devices");
    return 77;
  }
  const bool tiny = argc > 1 && std::string(argv[1]) == "--tiny";
  const int epochs = tiny ? 1 : 5;
  constexpr std::int64_t latent = 20;
  using Encoder = vae::MLPEncoder<float, Backend>;
  using Decoder = vae::MLPDecoder<float, Backend>;
  vae::VAE<Encoder, Decoder, vae::StandardNormalPrior, vae::AnalyticGaussianKL, vae::BernoulliLikelihood,
           vae::ConstantBeta, float, Backend>
      model(Encoder(784, 512, 256, 2 * latent), Decoder(latent, 256, 512, 784), latent);
  vae::generator rng(0);
  vae::parameter_store<float, Backend> store;
  store.attach(model, rng);
  vae::Adam<float, Backend> opt({.lr = 1e-3});

  auto data = vae::data::load_dataset("fashion-mnist", {.limit = tiny ? 512 : 0});
  auto train = vae::data::binarize(data.train_images), test = vae::data::binarize(data.test_images);
  train.reshape(vae::shape{train.dim(0), 784});
  test.reshape(vae::shape{test.dim(0), 784});
  const auto test_on_device = vae::to<Backend>(test);
  vae::data::batch_sampler sampler(train.dim(0), 128, /*seed=*/1, /*drop_last=*/true);
  std::vector<std::int64_t> idx;
  vae::tensor<float> batch;                // host
  vae::tensor<float, Backend> batch_dev;  // device
  std::int64_t step = 0;
  for (int epoch = 1; epoch <= epochs; ++epoch, sampler.new_epoch()) {
    double sum = 0;
    std::int64_t n = 0;
    while (sampler.next(idx)) {
      vae::data::gather(train, idx, batch);
      vae::copy_into(batch_dev, batch);
      store.zero_grad();
      sum += model.train_step_loss(batch_dev, rng, step++);
      opt.step(store);
      ++n;
    }
    std::vector<double> per(test.dim(0));  // host memory on every backend
    std::printf("epoch %d: train loss %.2f, test ELBO %.2f nats (%s)\n", epoch, sum / n,
                model.elbo(test_on_device, rng, per), Backend::name);
  }
  vae::save_parameters("cuda_backend.safetensors", store);  // downloads; loads into a cpu store unchanged
  std::puts("wrote cuda_backend.safetensors");
}
