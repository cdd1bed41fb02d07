// Fuzz target: safetensors_file::parse (checkpoints, golden fixtures) and the dtype conversions of what it accepts.
#include "fuzz_support.hpp"
#include "vae/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  vae::fuzz::expect_only_vae_errors([&] {
    const auto f = vae::io::safetensors_file::parse(vae::fuzz::bytes(data, size), "fuzz.safetensors");
    for (const auto& t : f.tensors()) {
      vae::fuzz::require(t.dims.numel() >= 0, "accepted tensor has a negative element count");
      const auto v = t.to_tensor<float>();
      vae::fuzz::require(v.numel() == t.dims.numel(), "converted tensor has the wrong size");
      (void)t.values<std::int64_t>();
    }
  });
  return 0;
}
