// Image files: PNG writing (single images and torchvision-style grids) through stb (libstb-dev); PNG and BMP reading
// through stb, JPEG reading through libjpeg-turbo (io/jpeg.hpp).
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
#include "vae/io/jpeg.hpp"

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
// stb_image's internal consistency checks (STBI_ASSERT, compiled out under NDEBUG) can fail on corrupt streams:
// instead of aborting the program, the failure is recorded and decode_image reports the file as corrupt.
namespace vae::io::detail {
inline thread_local bool stb_check_failed = false;
}  // namespace vae::io::detail
#define STBI_ASSERT(x) ((x) ? (void)0 : (void)(::vae::io::detail::stb_check_failed = true))
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
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

// The most pixels decode_image decodes (8192 x 8192): a header may declare up to 2^31 bytes of pixels, which stb
// would allocate and fill from a file of a few bytes.
inline constexpr std::int64_t max_image_pixels = std::int64_t{1} << 26;

namespace detail {
inline void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<unsigned char>*>(context);
  const auto* p = static_cast<const unsigned char*>(data);
  out->insert(out->end(), p, p + size);
}

// An uncompressed BMP must hold every pixel row its header declares, but stb_image reads zeros past the end of the
// data instead of failing: a truncated file decodes with black rows, and an 81-byte file declaring 17249 x 24624
// pixels made it fill 1.3 GB (found by fuzz/image.cpp). Returns how many bytes the declared rows need beyond the
// file; 0 when it holds them, or when the header is one stb rejects (RLE, odd depths).
inline std::uint64_t bmp_missing_bytes(const unsigned char* d, std::size_t n) {
  if (n < 30 || d[0] != 'B' || d[1] != 'M') return 0;
  const auto u16 = [&](std::size_t i) { return static_cast<std::uint64_t>(d[i] | d[i + 1] << 8); };
  const auto u32 = [&](std::size_t i) { return u16(i) | u16(i + 2) << 16; };
  const std::uint64_t offset = u32(10), header = u32(14);
  std::uint64_t w = 0, h = 0, bpp = 0, compression = 0;
  if (header == 12) {
    w = u16(18);
    h = u16(20);
    bpp = u16(24);
  } else {
    if (n < 34) return 0;
    w = u32(18);
    const auto hs = static_cast<std::int32_t>(u32(22));  // negative: rows stored top-down
    h = hs < 0 ? static_cast<std::uint64_t>(-static_cast<std::int64_t>(hs)) : static_cast<std::uint64_t>(hs);
    bpp = u16(28);
    compression = u32(30);
  }
  // stb refuses RLE (1, 2) and reads every other compression code as uncompressed rows (an 86-byte file with code
  // 0xffff8c60 declaring 24 x 8388613 pixels took 3 s to fill).
  if (compression == 1 || compression == 2 || (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32) ||
      w > (1u << 24) || h > (1u << 24))
    return 0;
  const std::uint64_t need = std::max<std::uint64_t>(offset, 14 + header) + (w * bpp + 31) / 32 * 4 * h;
  return need > n ? need - n : 0;
}

// A PNG's chunks must lie within the file, but stb_image reserves the length an IDAT chunk declares before reading
// it: a 75-byte file declaring a 2 GB chunk made it allocate 2 GB (found by fuzz/image.cpp). Returns false when a
// chunk before IEND declares more bytes than the file has left; true for anything that is no PNG.
inline bool png_chunks_fit(const unsigned char* d, std::size_t n) {
  static constexpr unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (n < 8 || std::memcmp(d, signature, 8) != 0) return true;
  std::size_t i = 8;
  while (i + 8 <= n) {
    const std::uint64_t len = static_cast<std::uint64_t>(d[i]) << 24 | static_cast<std::uint64_t>(d[i + 1]) << 16 |
                              static_cast<std::uint64_t>(d[i + 2]) << 8 | d[i + 3];
    if (len + 12 > n - i) return false;  // length, type, data and CRC
    if (std::memcmp(d + i + 4, "IEND", 4) == 0) return true;
    i += 12 + static_cast<std::size_t>(len);
  }
  return true;
}

// stb_image 2.27 copies an IDAT chunk's data with memcpy from its (still null) buffer when the first IDAT is empty,
// which is undefined behaviour (found by fuzz/image.cpp). An empty IDAT carries no image data, so the file is passed
// on without its empty IDAT chunks: `kept` receives that copy and the function returns true when there were any.
inline bool png_drop_empty_idat(const unsigned char* d, std::size_t n, std::vector<unsigned char>& kept) {
  static constexpr unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (n < 8 || std::memcmp(d, signature, 8) != 0) return false;
  bool dropped = false;
  kept.assign(d, d + 8);
  std::size_t i = 8;
  while (i + 8 <= n) {
    const std::uint64_t len = static_cast<std::uint64_t>(d[i]) << 24 | static_cast<std::uint64_t>(d[i + 1]) << 16 |
                              static_cast<std::uint64_t>(d[i + 2]) << 8 | d[i + 3];
    const std::size_t end = static_cast<std::size_t>(std::min<std::uint64_t>(n, i + 12 + len));
    if (len == 0 && std::memcmp(d + i + 4, "IDAT", 4) == 0) {
      dropped = true;
    } else {
      kept.insert(kept.end(), d + i, d + end);
    }
    i = end;
  }
  kept.insert(kept.end(), d + std::min(i, n), d + n);
  return dropped;
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

// Decodes PNG, JPEG or BMP bytes. desired_channels = 0 keeps the file's channel count, 1..4 converts. Images of
// more than max_pixels (from the header, before decoding) are refused.
inline image decode_image(const unsigned char* data, std::size_t size, int desired_channels, const std::string& origin,
                          std::int64_t max_pixels = max_image_pixels) {
  check(desired_channels >= 0 && desired_channels <= 4,
        [&] { return cat("decode_image: desired_channels must be 0..4, got ", desired_channels); });
  check(size > 0 && size < (std::size_t{1} << 31), [&] { return cat("image '", origin, "': empty or too large (", size, " bytes)"); });
  if (looks_like_jpeg(data, size)) {
    auto j = detail::decode_jpeg(data, size, desired_channels, origin, max_pixels);
    return image{j.width, j.height, j.channels, std::move(j.pixels)};
  }
  check(detail::png_chunks_fit(data, size), [&] {
    return cat("image '", origin, "': cannot decode (truncated PNG: a chunk declares more bytes than the file has)");
  });
  std::vector<unsigned char> without_empty_idat;
  if (detail::png_drop_empty_idat(data, size, without_empty_idat)) {
    data = without_empty_idat.data();
    size = without_empty_idat.size();
  }
  int w = 0, h = 0, c = 0;
  detail::stb_check_failed = false;
  // Sizes from the header before anything is decoded: a small file must not make stb fill gigabytes.
  if (stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &c)) {
    w = std::abs(w);  // stb's info gives a top-down BMP a negative height
    h = std::abs(h);
    check(static_cast<std::int64_t>(w) * h <= max_pixels, [&] {
      return cat("image '", origin, "': ", w, "x", h, " pixels is more than this loader decodes (", max_pixels,
                 " pixels", max_pixels == max_image_pixels ? ", e.g. 8192x8192" : "", "); resize it first");
    });
  }
  const auto missing = detail::bmp_missing_bytes(data, size);
  check(missing == 0, [&] {
    return cat("image '", origin, "': cannot decode (truncated BMP: its header declares ", w, "x", h,
               " pixels, whose rows need ", missing, " more bytes than the file's ", size, ")");
  });
  stbi_uc* p = stbi_load_from_memory(data, static_cast<int>(size), &w, &h, &c, desired_channels);
  if (detail::stb_check_failed) {
    stbi_image_free(p);
    vae::detail::throw_error(cat("image '", origin, "': cannot decode (corrupt data: stb_image's internal check failed)"));
  }
  if (p != nullptr && (w <= 0 || h <= 0)) {  // stb 2.27 returns a BMP of height 0 as an image (found by fuzz/image)
    stbi_image_free(p);
    vae::detail::throw_error(cat("image '", origin, "': cannot decode (it has no pixels: ", w, "x", h, ")"));
  }
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
