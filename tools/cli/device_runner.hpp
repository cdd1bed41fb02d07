// The CLI's models on the CUDA backend: declared here for vae_cli.cpp (a plain C++ file), defined in
// tools/cli/device_runner.cu, which nvcc compiles into the `vae` tool when the build has VAE_WITH_CUDA.
#pragma once
#include <memory>
#include <string>

#include "cli/run_config.hpp"
#include "cli/runner.hpp"

namespace vae::cli {

// A runner whose model, parameters, gradients and Adam state live on the current CUDA device (batches are uploaded
// per step, the loss read back once, checkpoints downloaded). Throws vae::error, before allocating anything, when no
// CUDA device can be used (naming CUDA's error) or when the model does not run on cuda yet (check_cuda_supports).
std::unique_ptr<runner> make_device_runner(const run_config& c, image_shape s, generator& init);

// Throws vae::error when config `c` asks for something that does not run on cuda yet (quantizers other than vq / ema);
// needs no GPU.
void check_cuda_supports(const run_config& c);

// "NVIDIA H100 80GB HBM3 (device 0, compute capability 9.0)"; throws as make_device_runner when there is none.
std::string cuda_device_description();

}  // namespace vae::cli
