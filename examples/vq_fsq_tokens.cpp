// A VQ-VAE with finite scalar quantisation (FSQ, levels 8·5·5·5 = 1000 implicit codes, no codebook loss) between a
// ResNet encoder and decoder; trains on Fashion-MNIST, turns test images into 7×7 token grids and back, and checks
// the round trip: decode_tokens(encode_tokens(x)) equals reconstruct(x) bit for bit. Writes fsq_tokens.npy and
// fsq_roundtrip.png (test images over their decoded tokens). `--tiny`: 256 images, 1 epoch, narrower network.
#include <cstdio>
#include <string>
#include <vae/vae.hpp>

int main(int argc, char** argv) {
  const bool tiny = argc > 1 && std::string(argv[1]) == "--tiny";
  const int epochs = tiny ? 1 : 3;
  vae::resnet_encoder_options enc{.in_channels = 1, .hidden = tiny ? 32 : 128, .res_hidden = tiny ? 8 : 32,
                                  .res_blocks = tiny ? 1 : 2, .code_dim = 4};  // FSQ: one channel per level
  vae::resnet_decoder_options dec{.code_dim = 4, .hidden = enc.hidden, .res_hidden = enc.res_hidden,
                                  .res_blocks = enc.res_blocks, .out_channels = 1};
  vae::VQVAE<vae::ResNetEncoder<float>, vae::ResNetDecoder<float>, vae::FSQ<float>> model(
      vae::ResNetEncoder<float>(enc), vae::ResNetDecoder<float>(dec), vae::FSQ<float>({8, 5, 5, 5}));
  vae::generator rng(0);
  vae::parameter_store<float> store;
  store.attach(model, rng);  // enc.*, dec.* (FSQ has no parameters)
  vae::Adam<float> opt({.lr = 1e-3});

  auto data = vae::data::load_dataset("fashion-mnist", {.limit = tiny ? 256 : 0});  // [N, 1, 28, 28]
  vae::data::batch_sampler sampler(data.train_images.dim(0), 128, /*seed=*/1, /*drop_last=*/true);
  std::vector<std::int64_t> idx;
  vae::tensor<float> batch;
  std::int64_t step = 0;
  for (int epoch = 1; epoch <= epochs; ++epoch, sampler.new_epoch()) {
    model.set_training(true);
    model.stats().reset();
    double sum = 0;
    std::int64_t n = 0;
    while (sampler.next(idx)) {
      vae::data::gather(data.train_images, idx, batch);
      store.zero_grad();
      sum += model.train_step_loss(batch, step++);
      opt.step(store);
      ++n;
    }
    std::printf("epoch %d: train loss %.5f, codes used %lld of 1000 (perplexity %.1f)\n", epoch, sum / n,
                static_cast<long long>(model.stats().codes_used()), model.stats().perplexity());
  }

  model.set_training(false);
  vae::tensor<float> x(vae::shape{16, 1, 28, 28}), rec, decoded;
  std::copy(data.test_images.data(), data.test_images.data() + x.numel(), x.data());
  vae::tensor<std::int32_t> tokens;
  model.encode_tokens(x, tokens);  // [16, 7, 7], each in [0, 1000)
  model.decode_tokens(tokens, decoded);
  model.reconstruct(x, rec);
  std::int64_t differ = 0;
  for (std::int64_t i = 0; i < rec.numel(); ++i) differ += rec[i] != decoded[i];
  std::printf("tokens %s, first row of image 0: %d %d %d %d %d %d %d; test MSE %.5f\n", tokens.shape().str().c_str(),
              tokens[0], tokens[1], tokens[2], tokens[3], tokens[4], tokens[5], tokens[6], model.eval_mse(x));
  vae::io::write_npy("fsq_tokens.npy", tokens);
  vae::tensor<float> grid(vae::shape{32, 1, 28, 28});
  std::copy(x.data(), x.data() + x.numel(), grid.data());
  std::copy(decoded.data(), decoded.data() + decoded.numel(), grid.data() + x.numel());
  vae::io::write_png_grid("fsq_roundtrip.png", grid, 16);
  if (differ != 0) {
    std::printf("round trip FAILED: %lld of %lld values differ\n", static_cast<long long>(differ),
                static_cast<long long>(rec.numel()));
    return 1;
  }
  std::puts("round trip: decode_tokens(encode_tokens(x)) == reconstruct(x) bit for bit; wrote fsq_tokens.npy, fsq_roundtrip.png");
}
