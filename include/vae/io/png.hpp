// Image files through stb (libstb-dev): PNG writing (single images and torchvision-style grids), PNG/JPEG/BMP reading.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "vae/core/error.hpp"
#include "vae/core/tensor.hpp"
#include "vae/io/atomic_file.hpp"

// stb in a header-only library: every translation unit that includes this header gets its own *static*
// copy of stb_image / stb_image_write (STB_IMAGE_STATIC, STB_IMAGE_WRITE_STATIC), so there is no
// "one .cpp must define STB_IMAGE_IMPLEMENTATION" rule and no clash with an application's own stb.
// The one constraint: include this header before any <stb/stb_image*.h> in the same translation unit.
#if defined(STBI_INCLUDE_STB_IMAGE_H) && !defined(VAE_STB_IMAGE_INCLUDED)
#error "vae/io/png.hpp must be included before <stb/stb_image.h> in a translation unit (it compiles a static copy of stb_image)"
#endif
#if defined(INCLUDE_STB_IMAGE_WRITE_H) && !defined(VAE_STB_IMAGE_INCLUDED)
#error "vae/io/png.hpp must be included before <stb/stb_image_write.h> in a translation unit (it compiles a static copy)"
#endif
#ifndef VAE_STB_IMAGE_INCLUDED
#define VAE_STB_IMAGE_INCLUDED
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wshadow"
#endif
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#include <stb/stb_image.h>
#undef STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#undef STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#endif

namespace vae::io {

// An 8-bit image with interleaved channels (row-major H × W × C).
struct image {
  int width = 0, height = 0, channels = 0;
  std::vector<std::uint8_t> pixels;
};

namespace detail {
inline void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<unsigned char>*>(context);
  const auto* p = static_cast<const unsigned char*>(data);
  out->insert(out->end(), p, p + size);
}
}  // namespace detail

// Encodes 8-bit pixels (H × W × channels, channels 1..4) as PNG bytes.
inline std::vector<unsigned char> encode_png(const std::uint8_t* pixels, int width, int height, int channels) {
  check(width > 0 && height > 0 && channels >= 1 && channels <= 4, [&] {
    return cat("encode_png: expected width, height > 0 and 1..4 channels, got ", width, "x", height, "x", channels);
  });
  check(pixels != nullptr, "encode_png: pixels is null");
  std::vector<unsigned char> out;
  const int ok = stbi_write_png_to_func(&detail::append_bytes, &out, width, height, channels, pixels, width * channels);
  check(ok != 0 && !out.empty(), [&] { return cat("encode_png: stb failed to encode a ", width, "x", height, " image"); });
  return out;
}

// Writes 8-bit pixels (H × W × channels) as a PNG file, atomically (temporary file + rename).
inline void write_png(const std::string& path, const std::uint8_t* pixels, int width, int height, int channels) {
  const auto bytes = encode_png(pixels, width, height, channels);
  write_file_atomically(path, [&](file_sink& s) { s.write(bytes.data(), bytes.size()); });
}

// Tiles images [N, C, H, W] (C = 1 or 3, values clamped to [0, 1], NaN → 0) into one 8-bit H' × W' × C
// picture like torchvision.utils.make_grid: min(nrow, N) images per row, `padding` black pixels around each.
inline image make_grid(const tensor<float>& images, int nrow = 8, int padding = 2) {
  check(images.rank() == 4 && (images.dim(1) == 1 || images.dim(1) == 3) && images.dim(0) > 0, [&] {
    return cat("make_grid: expected images [N, C, H, W] with N > 0 and C = 1 or 3, got ", images.shape());
  });
  check(nrow > 0 && padding >= 0, [&] { return cat("make_grid: expected nrow > 0, padding >= 0, got ", nrow, ", ", padding); });
  const std::int64_t n = images.dim(0), c = images.dim(1), h = images.dim(2), w = images.dim(3);
  const std::int64_t cols = std::min<std::int64_t>(nrow, n), rows = (n + cols - 1) / cols;
  const std::int64_t gh = rows * (h + padding) + padding, gw = cols * (w + padding) + padding;
  check(gh * gw * c < (std::int64_t{1} << 31), [&] { return cat("make_grid: the grid of ", images.shape(), " is too large"); });
  image out;
  out.width = static_cast<int>(gw);
  out.height = static_cast<int>(gh);
  out.channels = static_cast<int>(c);
  out.pixels.assign(static_cast<std::size_t>(gh * gw * c), 0);
  for (std::int64_t k = 0; k < n; ++k) {
    const std::int64_t y0 = padding + (k / cols) * (h + padding), x0 = padding + (k % cols) * (w + padding);
    const float* src = images.data() + k * c * h * w;
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x) {
          float v = src[(ch * h + y) * w + x];
          v = std::isnan(v) ? 0.f : std::clamp(v, 0.f, 1.f);
          out.pixels[static_cast<std::size_t>(((y0 + y) * gw + (x0 + x)) * c + ch)] =
              static_cast<std::uint8_t>(std::lround(v * 255.f));
        }
  }
  return out;
}

// Writes images [N, C, H, W] (C = 1 or 3, values in [0, 1]) as one PNG grid, atomically.
inline void write_png_grid(const std::string& path, const tensor<float>& images, int nrow = 8, int padding = 2) {
  const auto g = make_grid(images, nrow, padding);
  write_png(path, g.pixels.data(), g.width, g.height, g.channels);
}

// Decodes PNG, JPEG or BMP bytes. desired_channels = 0 keeps the file's channel count, 1..4 converts.
inline image decode_image(const unsigned char* data, std::size_t size, int desired_channels, const std::string& origin) {
  check(desired_channels >= 0 && desired_channels <= 4,
        [&] { return cat("decode_image: desired_channels must be 0..4, got ", desired_channels); });
  check(size > 0 && size < (std::size_t{1} << 31), [&] { return cat("image '", origin, "': empty or too large (", size, " bytes)"); });
  int w = 0, h = 0, c = 0;
  stbi_uc* p = stbi_load_from_memory(data, static_cast<int>(size), &w, &h, &c, desired_channels);
  check(p != nullptr, [&] {
    return cat("image '", origin, "': cannot decode (", stbi_failure_reason(), "; PNG, JPEG and BMP are supported)");
  });
  image out;
  out.width = w;
  out.height = h;
  out.channels = desired_channels ? desired_channels : c;
  out.pixels.assign(p, p + static_cast<std::size_t>(w) * h * out.channels);
  stbi_image_free(p);
  return out;
}

// Reads a PNG, JPEG or BMP file (see decode_image).
inline image read_image(const std::string& path, int desired_channels = 0) {
  std::ifstream in(path, std::ios::binary);
  check(static_cast<bool>(in), [&] { return cat("cannot open image file '", path, "'"); });
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return decode_image(bytes.data(), bytes.size(), desired_channels, path);
}

}  // namespace vae::io
