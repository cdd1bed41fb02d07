// Fuzz target: read_idx_images / read_idx_labels on a file — zlib's gzip detection and inflation, then parse_idx.
#include "fuzz_support.hpp"
#include "vae/data/idx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = vae::fuzz::write_scratch(data, size, "-idx.gz");
  vae::fuzz::expect_only_vae_errors([&] {
    const auto t = vae::data::read_idx_images(path);
    vae::fuzz::require(t.rank() == 3, "images are not [N, H, W]");
  });
  vae::fuzz::expect_only_vae_errors([&] { (void)vae::data::read_idx_labels(path); });
  return 0;
}
