// VAE<..., cuda> against VAE<..., cpu> from the same seed: identical initial weights, then 3 Adam train steps (loss,
// every gradient and parameter after each step), one eval ELBO, decode and sample, for the MLP preset (Bernoulli,
// ConstantBeta; fixed-variance Gaussian with FreeBits) and the conv preset (Bernoulli); a device parameter store
// through safetensors (save downloads, load uploads). Written for a GPU machine: here it is compiled by nvcc and
// skipped (exit 77) without a device; it has never been run on a GPU yet.
#include "vae/backend/cuda/adam_step.cuh"
#include "vae/backend/cuda/rng.cuh"
#include "vae/backend/cuda/transfer.cuh"
#include "vae/decoders/conv_decoder.hpp"
#include "vae/decoders/mlp_decoder.hpp"
#include "vae/encoders/conv_encoder.hpp"
#include "vae/encoders/mlp_encoder.hpp"
#include "vae/likelihoods/gaussian.hpp"
#include "vae/models/vae.hpp"
#include "vae/train/adam.hpp"
#include "vae/train/checkpoint.hpp"

#include <cmath>
#include <filesystem>
#include <type_traits>
#include <vector>

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::require_close;

namespace {

// Tolerances: cuda_test::step_tolerance (the reasons are written there).
template <class T>
using tolerance = cuda_test::step_tolerance<T>;
using cuda_test::check_scalar;

// Runs both models side by side. HostModel/DeviceModel differ only in the backend argument.
template <class T, class HostModel, class DeviceModel>
void compare_models(HostModel& host, DeviceModel& device, shape batch_shape, const std::string& label) {
  using tol = tolerance<T>;
  generator init_host(2024), init_device(2024);
  parameter_store<T, cpu> host_store;
  parameter_store<T, cuda> device_store;
  host_store.attach(host, init_host);
  device_store.attach(device, init_device);
  REQUIRE(host_store.size() == device_store.size());
  REQUIRE(host_store.size() > 0);
  // Initial values are drawn on the host and uploaded: bit-identical.
  require_close(device_store.value_tensor(), host_store.value_tensor(), label + " initial parameters", 0.0, 0.0);

  tensor<T> x(batch_shape);
  generator data(7);
  data.fill_uniform(x.data(), x.numel(), 0.0, 1.0);
  const auto x_device = to<cuda>(x);

  const adam_options options{.lr = 1e-3, .eps = 1e-3};
  Adam<T, cpu> host_opt(options);
  Adam<T, cuda> device_opt(options);
  generator rng_host(99), rng_device(99);
  for (int step = 0; step < 3; ++step) {
    const std::string at = label + " step " + std::to_string(step);
    host_store.zero_grad();
    device_store.zero_grad();
    const double host_loss = host.train_step_loss(x, rng_host, step);
    const double device_loss = device.train_step_loss(x_device, rng_device, step);
    CHECK(rng_host.offset() == rng_device.offset());  // the same eps draws were reserved
    check_scalar(device_loss, host_loss, tol::loss_rtol, at + " loss");
    check_scalar(device.last_loss_parts().reconstruction, host.last_loss_parts().reconstruction, tol::loss_rtol,
                 at + " reconstruction");
    check_scalar(device.last_loss_parts().divergence, host.last_loss_parts().divergence, tol::loss_rtol,
                 at + " divergence");
    require_close(device_store.grad_tensor(), host_store.grad_tensor(), at + " gradients", tol::grad_atol,
                  tol::grad_rtol);
    host_opt.step(host_store);
    device_opt.step(device_store);
    require_close(device_store.value_tensor(), host_store.value_tensor(), at + " parameters", tol::param_atol,
                  tol::param_rtol);
  }

  const auto n = static_cast<std::size_t>(x.dim(0));
  std::vector<double> host_elbo(n), device_elbo(n);
  const double host_mean = host.elbo(x, rng_host, host_elbo);
  const double device_mean = device.elbo(x_device, rng_device, device_elbo);
  check_scalar(device_mean, host_mean, tol::loss_rtol, label + " eval ELBO");
  const auto c =
      testing::compare(device_elbo.data(), host_elbo.data(), static_cast<std::int64_t>(n), 0.0, tol::loss_rtol);
  MESSAGE("cuda vs cpu " << c.summary(label + " per-image ELBO"));
  CHECK_MESSAGE(c.ok, c.summary(label + " per-image ELBO"));

  // decode (the likelihood's mean through its op) of the same latents.
  tensor<T> z({3, host.latent()});
  generator zs(5);
  zs.fill_normal(z.data(), z.numel());
  tensor<T> host_pixels;
  tensor<T, cuda> device_pixels;
  host.decode(z, host_pixels);
  device.decode(to<cuda>(z), device_pixels);
  require_close(device_pixels, host_pixels, label + " decode", tol::grad_atol, tol::grad_rtol);
  // sample: z ~ N(0, I) drawn on each side from generators in the same state, then decoded.
  host.sample(4, rng_host, host_pixels);
  device.sample(4, rng_device, device_pixels);
  CHECK(rng_host.offset() == rng_device.offset());
  require_close(device_pixels, host_pixels, label + " sample", tol::grad_atol, tol::grad_rtol);
}

}  // namespace

TEST_CASE_TEMPLATE("VAE<MLP, Bernoulli, AnalyticGaussianKL, cuda>: 3 Adam steps and the ELBO match cpu", T, float,
                   double) {
  const std::int64_t in = 50, latent = 6;
  VAE<MLPEncoder<T, cpu>, MLPDecoder<T, cpu>, StandardNormalPrior, AnalyticGaussianKL, BernoulliLikelihood,
      ConstantBeta, T, cpu>
      host(MLPEncoder<T, cpu>(in, 32, 24, 2 * latent), MLPDecoder<T, cpu>(latent, 24, 32, in), latent);
  VAE<MLPEncoder<T, cuda>, MLPDecoder<T, cuda>, StandardNormalPrior, AnalyticGaussianKL, BernoulliLikelihood,
      ConstantBeta, T, cuda>
      device(MLPEncoder<T, cuda>(in, 32, 24, 2 * latent), MLPDecoder<T, cuda>(latent, 24, 32, in), latent);
  compare_models<T>(host, device, shape{37, in}, "mlp bernoulli");
}

TEST_CASE_TEMPLATE("VAE<MLP, fixed-variance Gaussian, FreeBits, cuda>: 3 Adam steps and the ELBO match cpu", T, float,
                   double) {
  const std::int64_t in = 40, latent = 5;
  const GaussianLikelihood lik{0.25};
  const FreeBits bits{0.05, 1.0};  // some dimensions above λ, some below: per-dimension scales of 0 and 1
  VAE<MLPEncoder<T, cpu>, MLPDecoder<T, cpu>, StandardNormalPrior, AnalyticGaussianKL, GaussianLikelihood, FreeBits,
      T, cpu>
      host(MLPEncoder<T, cpu>(in, 20, 16, 2 * latent), MLPDecoder<T, cpu>(latent, 16, 20, in), latent, {}, {}, lik,
           bits);
  VAE<MLPEncoder<T, cuda>, MLPDecoder<T, cuda>, StandardNormalPrior, AnalyticGaussianKL, GaussianLikelihood, FreeBits,
      T, cuda>
      device(MLPEncoder<T, cuda>(in, 20, 16, 2 * latent), MLPDecoder<T, cuda>(latent, 16, 20, in), latent, {}, {}, lik,
             bits);
  compare_models<T>(host, device, shape{19, in}, "mlp gaussian freebits");
}

TEST_CASE("VAE<ConvEncoder, ConvDecoder, Bernoulli, cuda>: 3 Adam steps and the ELBO match cpu") {
  using T = float;
  const std::int64_t size = 8, latent = 4;
  VAE<ConvEncoder<T, cpu>, ConvDecoder<T, cpu>, StandardNormalPrior, AnalyticGaussianKL, BernoulliLikelihood,
      ConstantBeta, T, cpu>
      host(ConvEncoder<T, cpu>(1, size, 4, 8, 2 * latent), ConvDecoder<T, cpu>(latent, size, 8, 4, 1), latent);
  VAE<ConvEncoder<T, cuda>, ConvDecoder<T, cuda>, StandardNormalPrior, AnalyticGaussianKL, BernoulliLikelihood,
      ConstantBeta, T, cuda>
      device(ConvEncoder<T, cuda>(1, size, 4, 8, 2 * latent), ConvDecoder<T, cuda>(latent, size, 8, 4, 1), latent);
  compare_models<T>(host, device, shape{6, 1, size, size}, "conv bernoulli");
}

TEST_CASE("parameter_store<float, cuda> of a VAE: safetensors save downloads, load uploads, names as on cpu") {
  using T = float;
  const std::int64_t in = 12, latent = 3;
  using host_model = VAE<MLPEncoder<T, cpu>, MLPDecoder<T, cpu>, StandardNormalPrior, AnalyticGaussianKL,
                         BernoulliLikelihood, ConstantBeta, T, cpu>;
  using device_model = VAE<MLPEncoder<T, cuda>, MLPDecoder<T, cuda>, StandardNormalPrior, AnalyticGaussianKL,
                           BernoulliLikelihood, ConstantBeta, T, cuda>;
  device_model trained(MLPEncoder<T, cuda>(in, 8, 8, 2 * latent), MLPDecoder<T, cuda>(latent, 8, 8, in), latent);
  parameter_store<T, cuda> trained_store;
  generator init(3);
  trained_store.attach(trained, init);
  fill_normal(init, trained_store.value_tensor());  // values that differ from any fresh initialisation
  const auto path = std::filesystem::temp_directory_path() / "vae_cuda_vae_step_checkpoint.safetensors";
  save_parameters(path, trained_store);

  host_model host(MLPEncoder<T, cpu>(in, 8, 8, 2 * latent), MLPDecoder<T, cpu>(latent, 8, 8, in), latent);
  parameter_store<T, cpu> host_store;
  generator other(4);
  host_store.attach(host, other);
  load_parameters(path, host_store);
  require_close(trained_store.value_tensor(), host_store.value_tensor(), "saved on cuda, loaded on cpu", 0.0, 0.0);

  device_model fresh(MLPEncoder<T, cuda>(in, 8, 8, 2 * latent), MLPDecoder<T, cuda>(latent, 8, 8, in), latent);
  parameter_store<T, cuda> fresh_store;
  generator other2(5);
  fresh_store.attach(fresh, other2);
  load_parameters(path, fresh_store);
  require_close(fresh_store.value_tensor(), host_store.value_tensor(), "loaded back on cuda", 0.0, 0.0);
  REQUIRE(fresh_store.entries().size() == host_store.entries().size());
  for (std::size_t i = 0; i < host_store.entries().size(); ++i)
    CHECK(fresh_store.entries()[i].name == host_store.entries()[i].name);
  std::filesystem::remove(path);
}
