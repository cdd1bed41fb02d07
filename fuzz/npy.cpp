// Fuzz target: parse_npy (npy:FILE datasets, labels) and the element conversions of what it accepts.
#include "fuzz_support.hpp"
#include "vae/io/npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  vae::fuzz::expect_only_vae_errors([&] {
    const auto a = vae::io::parse_npy(vae::fuzz::bytes(data, size), "fuzz.npy");
    vae::fuzz::require(a.numel() >= 0, "accepted array has a negative element count");
    const auto f = a.as<float>();
    vae::fuzz::require(f.numel() == a.numel(), "as<float> has the wrong size");
    (void)a.as<std::uint8_t>();
    (void)a.as<std::int64_t>();
  });
  return 0;
}
