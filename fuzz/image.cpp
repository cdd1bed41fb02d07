// Fuzz target: decode_image (folder:DIR datasets): stb_image's PNG and BMP decoders behind vae's checks (JPEG: image_jpeg).
#include "fuzz_support.hpp"
#include "vae/io/png.hpp"

#ifndef VAE_FUZZ_JPEG
#define VAE_FUZZ_JPEG false  // fuzz/image_jpeg.cpp defines it true
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // This target takes PNG and BMP (and everything else decode_image must refuse); JPEGs go to image_jpeg, so that
  // each decoder gets its own corpus and coverage feedback.
  if (vae::io::looks_like_jpeg(data, size) != VAE_FUZZ_JPEG) return 0;
  // The requested channel count (0 = the file's, 1..4 converted) follows the input's length, so every
  // conversion is exercised without a prefix byte that would make the seed files invalid images.
  const int channels = static_cast<int>(size % 5);
  vae::fuzz::expect_only_vae_errors([&] {
    // 2^20 pixels instead of 2^26: a small file may declare a large picture, and 2^26 pixels take seconds each
    // under ASan; the larger limit is the same code with longer loops.
    const auto im = vae::io::decode_image(data, size, channels, "fuzz-image", std::int64_t{1} << 20);
    vae::fuzz::require(im.width > 0 && im.height > 0 && im.channels >= 1 && im.channels <= 4, "bad decoded geometry");
    vae::fuzz::require(im.pixels.size() == static_cast<std::size_t>(im.width) * im.height * im.channels,
                       "pixel buffer size differs from width x height x channels");
  });
  return 0;
}
