// vae train/eval/sample/reconstruct --device cuda: the CLI's presets instantiated on the cuda backend (nvcc), built
// as the module libvae_cli_cuda.so that cli/device_runner.hpp opens on first use.
// The model code is the cpu presets' own (dense_presets.hpp, vq_presets.hpp, runner.hpp over backend cuda) for the
// registry's entries marked on_cuda; this file adds the device probe and the refusals of what does not run on cuda yet.
#include <cuda_runtime.h>

#include <string>

#include "cli/dense_presets.hpp"
#include "cli/device_runner.hpp"
#include "cli/vq_presets.hpp"
#include "vae/backend/cuda.hpp"
#include "vae/backend/cuda/kernels.cuh"
#include "vae/backend/cuda/transfer.cuh"
#include "vae/quantizers/ema_vector_quantizer.hpp"
#include "vae/quantizers/vector_quantizer.hpp"
#include "vae/train/adam.hpp"

namespace vae::cli {
namespace {

std::string describe_cuda_device() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    vae::detail::throw_error(cat("--device cuda: no usable CUDA device: cudaGetDeviceCount failed with ",
                                 cudaGetErrorName(status), " (", cudaGetErrorString(status),
                                 "); use --device cpu (the default) on this machine"));
  }
  check(count > 0, "--device cuda: no usable CUDA device: cudaGetDeviceCount found none; use --device cpu");
  int device = 0;
  cuda_detail::check_call(cudaGetDevice(&device), "cudaGetDevice");
  cudaDeviceProp p{};
  cuda_detail::check_call(cudaGetDeviceProperties(&p, device), "cudaGetDeviceProperties");
  return cat(p.name, " (device ", device, " of ", count, ", compute capability ", p.major, ".", p.minor, ")");
}

void check_supports(const run_config& c) {
  const preset& p = preset_named(c.model);
  check_res_blocks(c);
  check(p.on_cuda, [&] {
    return cat("--device cuda: ", c.model, " runs on the cpu only for now (train and evaluate it without --device cuda; ",
               "on cuda: ", preset_choices_on_cuda(), ")");
  });
  if (p.kind == preset_kind::vq) {
    // VectorQuantizer / EMAVectorQuantizer run on cuda, k-means initialisation and dead-code restarts included
    // (decided on the host); FSQ, Gumbel and residual VQ do not yet.
    check(c.quantizer == "vq" || c.quantizer == "ema", [&] {
      return cat("--device cuda: ", c.model, " with --quantizer ", c.quantizer,
                 " runs on the cpu only for now (on cuda: --quantizer vq or ema)");
    });
  }
}

std::unique_ptr<runner> make_cuda_runner(const run_config& c, image_shape s, generator& init) {
  check_supports(c);
  (void)describe_cuda_device();  // a missing driver or device is reported here, before anything is allocated
  if (preset_named(c.model).kind != preset_kind::vq) return make_dense_runner<cuda>(c, s, init);
  const vq_preset p(c, s);
  if (c.quantizer == "vq")
    return p.build<cuda>(VectorQuantizer<float, cuda>(p.codes, c.code_dim, p.quantizer), s, init);
  return p.build<cuda>(EMAVectorQuantizer<float, cuda>(p.codes, c.code_dim, p.quantizer), s, init);
}

}  // namespace
}  // namespace vae::cli

extern "C" __attribute__((visibility("default"))) const vae::cli::device_module* vae_cli_device_module() {
  static const vae::cli::device_module m{vae::cli::device_module::current_version, &vae::cli::make_cuda_runner,
                                         &vae::cli::check_supports, &vae::cli::describe_cuda_device};
  return &m;
}
