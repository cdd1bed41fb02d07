// vae_bench --device cuda: the mlp-vae, conv-vae and vq-vae reference models trained and evaluated on the GPU (nvcc).
// Parameters, gradients and Adam's state stay on the device; each step uploads its batch (gathered on the host,
// as PyTorch's reference indexes a CPU tensor and would copy it) and reads the loss back once (vq-vae: the
// quantizer's loss and its per-code counts, read back by every forward).
#include <span>
#include <vector>

#include "bench_common.hpp"
#include "vae/backend/cuda.hpp"
#include "vae/backend/cuda/kernels.cuh"
#include "vae/backend/cuda/transfer.cuh"
#include "vae/data/dataset.hpp"
#include "vae/decoders/conv_decoder.hpp"
#include "vae/decoders/mlp_decoder.hpp"
#include "vae/decoders/resnet_decoder.hpp"
#include "vae/encoders/conv_encoder.hpp"
#include "vae/encoders/mlp_encoder.hpp"
#include "vae/encoders/resnet_encoder.hpp"
#include "vae/models/vae.hpp"
#include "vae/models/vqvae.hpp"
#include "vae/quantizers/vector_quantizer.hpp"
#include "vae/train/adam.hpp"

namespace vae_bench {
namespace {

using host_tensor = vae::tensor<float, vae::cpu>;
using device_tensor = vae::tensor<float, vae::cuda>;

// Rows [begin, end) of a host tensor, keeping its trailing dimensions.
void host_rows(const host_tensor& src, std::int64_t begin, std::int64_t end, host_tensor& dst) {
  vae::shape s = src.shape();
  const std::int64_t row = src.numel() / src.dim(0);
  s[0] = end - begin;
  dst.resize(s);
  std::copy(src.data() + begin * row, src.data() + end * row, dst.data());
}

// Uploads a host batch, flattened to [N, C·H·W] for the MLP (the conv model takes [N, C, H, W]).
void upload(host_tensor& x, bool flat, device_tensor& xd) {
  if (flat) x.reshape({x.dim(0), x.numel() / x.dim(0)});
  vae::copy_into(xd, x);
}

// One training step: the VAEs draw their noise from rng; the VQ-VAE has none.
template <class Model>
void train_step(Model& model, const device_tensor& x, vae::generator& rng, std::int64_t step) {
  if constexpr (requires { model.train_step_loss(x, rng, step); })
    model.train_step_loss(x, rng, step);
  else
    model.train_step_loss(x, step);
}
// One evaluation batch, as the cpu path's eval_batch: the VAEs' ELBO per image, the VQ-VAE's reconstruction.
template <class Model>
void eval_step(Model& model, const device_tensor& x, vae::generator& rng, std::span<double> per_image,
               device_tensor& out) {
  if constexpr (requires { model.elbo(x, rng, per_image); })
    model.elbo(x, rng, per_image);
  else
    model.reconstruct(x, out);
}

template <class Model>
result train_and_eval(Model& model, const options& o, const host_tensor& train, const host_tensor& test, bool flat) {
  vae::parameter_store<float, vae::cuda> store;
  vae::generator init(0), rng(1);
  store.attach(model, init);
  vae::Adam<float, vae::cuda> opt({.lr = 1e-3});
  vae::data::batch_sampler sampler(train.dim(0), o.batch, 2, /*drop_last=*/true);
  std::vector<std::int64_t> idx;
  host_tensor x;
  device_tensor xd, out;
  result r;
  r.window_steps = window_steps(o.model);
  std::vector<double> rates;
  model.set_training(true);
  store.zero_grad();
  vae::cuda::synchronize();
  const double start = now();
  double t0 = start;
  for (std::int64_t step = 0, windows = 0;;) {
    if (!sampler.next(idx)) {
      sampler.new_epoch();
      continue;
    }
    vae::data::gather(train, idx, x);
    upload(x, flat, xd);
    train_step(model, xd, rng, step++);  // reads the loss back: the step is complete on the device
    opt.step_and_zero_grad(store);
    if (step % r.window_steps == 0) {
      vae::cuda::synchronize();
      const double t = now();
      if (windows++ > 0) rates.push_back(static_cast<double>(r.window_steps * o.batch) / (t - t0));  // first = warm-up
      t0 = t;
      if (t - start > o.seconds && rates.size() >= 3) break;
    }
  }
  r.train_samples_per_s = median(rates);
  r.timed_windows = static_cast<std::int64_t>(rates.size());

  model.set_training(false);
  std::vector<double> per_image(static_cast<std::size_t>(o.batch));
  auto one_pass = [&] {
    for (std::int64_t i = 0; i + o.batch <= test.dim(0); i += o.batch) {
      host_rows(test, i, i + o.batch, x);
      upload(x, flat, xd);
      eval_step(model, xd, rng, std::span<double>(per_image), out);
    }
    vae::cuda::synchronize();
  };
  one_pass();
  std::vector<double> eval_rates;
  for (int rep = 0; rep < o.eval_reps; ++rep) {
    const double e0 = now();
    one_pass();
    eval_rates.push_back(static_cast<double>((test.dim(0) / o.batch) * o.batch) / (now() - e0));
  }
  r.eval_samples_per_s = median(eval_rates);
  return r;
}

}  // namespace

result run_cuda(const options& o) {
  using vae::cuda;
  vae::check(o.model == "mlp-vae" || o.model == "conv-vae" || o.model == "vq-vae", [&] {
    return vae::cat("vae_bench --device cuda: model '", o.model, "' is not one of mlp-vae, conv-vae, vq-vae");
  });
  vae::data::load_options lo;
  auto data = vae::data::load_dataset("fashion-mnist", lo);
  if (o.model == "vq-vae") {
    // vqvae.py (the cpu path's preset): intensities in [0, 1], ResNet encoder/decoder (hidden 128, 2 residual blocks
    // of 32 channels), K = 512 codes of D = 64, plain VQ (no k-means, no restarts), MSE + codebook + 0.25·commitment.
    using model_t = vae::VQVAE<vae::ResNetEncoder<float, cuda>, vae::ResNetDecoder<float, cuda>,
                               vae::VectorQuantizer<float, cuda>, float, cuda>;
    vae::resnet_encoder_options eo;
    eo.in_channels = data.train_images.dim(1);
    vae::resnet_decoder_options dopt;
    dopt.out_channels = data.train_images.dim(1);
    model_t m(vae::ResNetEncoder<float, cuda>(eo), vae::ResNetDecoder<float, cuda>(dopt),
              vae::VectorQuantizer<float, cuda>(512, eo.code_dim));
    return train_and_eval(m, o, data.train_images, data.test_images, /*flat=*/false);
  }
  const auto train = vae::data::binarize(data.train_images, 0.5f), test = vae::data::binarize(data.test_images, 0.5f);
  constexpr std::int64_t latent = 32;
  if (o.model == "mlp-vae") {
    vae::VAE<vae::MLPEncoder<float, cuda>, vae::MLPDecoder<float, cuda>, vae::StandardNormalPrior,
             vae::AnalyticGaussianKL, vae::BernoulliLikelihood, vae::ConstantBeta, float, cuda>
        m(vae::MLPEncoder<float, cuda>(784, 512, 256, 2 * latent), vae::MLPDecoder<float, cuda>(latent, 256, 512, 784),
          latent);
    return train_and_eval(m, o, train, test, /*flat=*/true);
  }
  vae::VAE<vae::ConvEncoder<float, cuda>, vae::ConvDecoder<float, cuda>, vae::StandardNormalPrior,
           vae::AnalyticGaussianKL, vae::BernoulliLikelihood, vae::ConstantBeta, float, cuda>
      m(vae::ConvEncoder<float, cuda>(1, 28, 32, 64, 2 * latent), vae::ConvDecoder<float, cuda>(latent, 28, 64, 32, 1),
        latent);
  return train_and_eval(m, o, train, test, /*flat=*/false);
}

}  // namespace vae_bench
