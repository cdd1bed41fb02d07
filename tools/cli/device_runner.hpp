// The CLI's models on the CUDA backend, loaded on first use: tools/cli/device_runner.cu is built by nvcc into a
// module (libvae_cli_cuda.so) that `vae` and vae_bench open only for --device cuda, so that cpu runs do not map the
// CUDA libraries (cuBLAS and cuBLASLt alone keep about 220 MB resident once loaded).
#pragma once
#include <dlfcn.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/run_config.hpp"
#include "cli/runner.hpp"
#include "vae/core/error.hpp"

namespace vae::cli {

// What the module exports through vae_cli_device_module(); `version` changes whenever this struct does, so that a
// stale module is refused instead of called through the wrong layout.
struct device_module {
  static constexpr int current_version = 1;
  int version = current_version;
  std::unique_ptr<runner> (*make_runner)(const run_config&, image_shape, generator&) = nullptr;
  void (*check_supports)(const run_config&) = nullptr;
  std::string (*describe)() = nullptr;
};

namespace device_module_detail {
inline constexpr const char* file_name = "libvae_cli_cuda.so";

// Where the module may be: $VAE_CUDA_MODULE, the build tree's copy, beside the program, ../lib of the program.
inline std::vector<std::filesystem::path> candidates() {
  std::vector<std::filesystem::path> c;
  if (const char* env = std::getenv("VAE_CUDA_MODULE"); env && *env) c.emplace_back(env);
#if defined(VAE_CLI_DEVICE_MODULE)
  c.emplace_back(VAE_CLI_DEVICE_MODULE);
#endif
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    c.push_back(exe.parent_path() / file_name);
    c.push_back(exe.parent_path().parent_path() / "lib" / file_name);
  }
  return c;
}

inline const device_module& load() {
  static const device_module* module = [] {
    std::string tried;
    for (const auto& path : candidates()) {
      if (!std::filesystem::exists(path)) {
        tried += cat(tried.empty() ? "" : ", ", path.string(), " (absent)");
        continue;
      }
      void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      check(handle != nullptr, [&] {
        const char* why = dlerror();
        return cat("--device cuda: cannot load the CUDA module ", path.string(), ": ", why ? why : "unknown error",
                   " (are the CUDA libraries it needs installed?)");
      });
      using entry_fn = const device_module* (*)();
      auto entry = reinterpret_cast<entry_fn>(dlsym(handle, "vae_cli_device_module"));
      check(entry != nullptr, [&] {
        return cat("--device cuda: ", path.string(), " is not a vae CUDA module (no vae_cli_device_module symbol)");
      });
      const device_module* m = entry();
      check(m != nullptr && m->version == device_module::current_version, [&] {
        return cat("--device cuda: the CUDA module ", path.string(), " is of another build (interface version ",
                   m ? m->version : -1, ", this program expects ", device_module::current_version,
                   "); rebuild both, or point VAE_CUDA_MODULE at the matching module");
      });
      return m;
    }
    vae::detail::throw_error(cat("--device cuda: this build has no CUDA module (looked for ", tried,
                                 "); configure with -DVAE_WITH_CUDA=ON where nvcc is installed, or set VAE_CUDA_MODULE"));
  }();
  return *module;
}
}  // namespace device_module_detail

// A runner whose model, parameters, gradients and Adam state live on the current CUDA device (batches are uploaded
// per step, the loss read back once, checkpoints downloaded). Throws vae::error, before allocating anything, when no
// CUDA device can be used (naming CUDA's error) or when the model does not run on cuda yet (check_cuda_supports).
inline std::unique_ptr<runner> make_device_runner(const run_config& c, image_shape s, generator& init) {
  return device_module_detail::load().make_runner(c, s, init);
}

// Throws vae::error when config `c` asks for something that does not run on cuda yet (quantizers other than vq / ema);
// needs no GPU.
inline void check_cuda_supports(const run_config& c) { device_module_detail::load().check_supports(c); }

// "NVIDIA H100 80GB HBM3 (device 0, compute capability 9.0)"; throws as make_device_runner when there is none.
inline std::string cuda_device_description() { return device_module_detail::load().describe(); }

}  // namespace vae::cli
