// vae train/eval/sample/reconstruct --device cuda: the CLI's presets instantiated on the cuda backend (nvcc).
// The model code is the cpu presets' own (dense_presets.hpp, runner.hpp over backend cuda); this file adds the device
// probe and the refusals for models whose layers are still host-only.
#include <cuda_runtime.h>

#include <string>
#include <string_view>

#include "cli/dense_presets.hpp"
#include "cli/device_runner.hpp"
#include "vae/backend/cuda.hpp"
#include "vae/backend/cuda/kernels.cuh"
#include "vae/backend/cuda/transfer.cuh"
#include "vae/train/adam.hpp"

namespace vae::cli {

std::string cuda_device_description() {
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

std::unique_ptr<runner> make_device_runner(const run_config& c, image_shape s, generator& init) {
  check_known_model(c.model);
  check_res_blocks(c);
  // VQ-VAEs wait for device quantizers and ResNet blocks (issue #6). Once VQVAE<..., cuda> compiles, this becomes
  // `return make_vq_runner<cuda>(c, s, init);` with presets.hpp included (vq_runner is written for any backend).
  check(!is_vq(c.model), [&] {
    return cat("--device cuda: ", c.model, " runs on the cpu only for now (train it without --device cuda)");
  });
  (void)cuda_device_description();  // a missing driver or device is reported here, before anything is allocated
  try {
    return make_dense_runner<cuda>(c, s, init);
  } catch (const vae::error& e) {
    // ResStack refuses k > 0 on device backends until ResBlock runs there; the CLI says it in its own words.
    if (c.res_blocks > 0 && std::string_view(e.what()).find("host backends only") != std::string_view::npos)
      vae::detail::throw_error(cat("--device cuda: ", c.model, " with --res-blocks ", c.res_blocks,
                                   " runs on the cpu only for now (", e.what(), ")"));
    throw;
  }
}

}  // namespace vae::cli
