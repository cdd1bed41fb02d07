// JPEG decoding through libjpeg-turbo's TurboJPEG API (Debian's libturbojpeg0-dev), for decode_image in io/png.hpp.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vae/core/error.hpp"

#ifdef VAE_WITH_TURBOJPEG
#include <turbojpeg.h>
#endif

namespace vae::io {

// True when the bytes start like a JPEG as decoders read one: FF, any fill bytes FF, then D8 (start of image).
inline bool looks_like_jpeg(const unsigned char* d, std::size_t n) {
  std::size_t i = 0;
  while (i < n && d[i] == 0xFF) ++i;
  return i > 0 && i < n && d[i] == 0xD8;
}

// True in builds that decode JPEG (CMake found libjpeg-turbo and defined VAE_WITH_TURBOJPEG on vae::vae).
inline constexpr bool jpeg_supported() {
#ifdef VAE_WITH_TURBOJPEG
  return true;
#else
  return false;
#endif
}

namespace detail {
// The decoded JPEG as decode_image returns images: interleaved 8-bit channels, H × W × channels.
struct jpeg_pixels {
  int width = 0, height = 0, channels = 0;
  std::vector<std::uint8_t> pixels;
};

#ifdef VAE_WITH_TURBOJPEG
// One TurboJPEG decompressor, destroyed on every path out (errors are exceptions here).
class turbojpeg_handle {
 public:
  turbojpeg_handle() : h_(tjInitDecompress()) {}
  ~turbojpeg_handle() {
    if (h_ != nullptr) tjDestroy(h_);
  }
  turbojpeg_handle(const turbojpeg_handle&) = delete;
  turbojpeg_handle& operator=(const turbojpeg_handle&) = delete;
  tjhandle get() const { return h_; }
  std::string last_error() const { return tjGetErrorStr2(h_); }

 private:
  tjhandle h_;
};
#endif

// Decodes JPEG bytes. desired_channels 0 keeps the file's count (1 for greyscale, else 3); 1 and 3 convert; 2 and 4
// add an opaque alpha channel, as stb_image does for PNG and BMP. Libjpeg's warnings (a truncated or corrupt entropy-
// coded stream, which it would otherwise fill with grey) are errors here: the image would not be the file's picture.
// Progressive files are limited to libjpeg-turbo's scan limit, which stops a few-byte file from decoding for minutes.
inline jpeg_pixels decode_jpeg(const unsigned char* data, std::size_t size, int desired_channels, const std::string& origin,
                               std::int64_t max_pixels) {
#ifndef VAE_WITH_TURBOJPEG
  (void)data, (void)size, (void)desired_channels, (void)max_pixels;
  vae::detail::throw_error(cat("image '", origin, "': cannot decode a JPEG in this build (vae reads JPEG through "
                               "libjpeg-turbo, which CMake did not find: apt-get install libturbojpeg0-dev and "
                               "reconfigure, or convert the images to PNG)"));
#else
  turbojpeg_handle tj;
  check(tj.get() != nullptr, [&] { return cat("image '", origin, "': cannot start the JPEG decoder (libjpeg-turbo)"); });
  const auto bytes = static_cast<unsigned long>(size);
  int w = 0, h = 0, subsampling = 0, colorspace = 0;
  check(tjDecompressHeader3(tj.get(), data, bytes, &w, &h, &subsampling, &colorspace) == 0,
        [&] { return cat("image '", origin, "': cannot decode (corrupt JPEG header: ", tj.last_error(), ")"); });
  // libjpeg-turbo reports success with 0 x 0 when the data ends before the frame header.
  check(w > 0 && h > 0, [&] { return cat("image '", origin, "': cannot decode (corrupt JPEG header: no frame, ", w, "x", h, ")"); });
  check(static_cast<std::int64_t>(w) * h <= max_pixels, [&] {
    return cat("image '", origin, "': ", w, "x", h, " pixels is more than this loader decodes (", max_pixels,
               " pixels); resize it first");
  });
  check(colorspace != TJCS_CMYK && colorspace != TJCS_YCCK, [&] {
    return cat("image '", origin, "': cannot decode (a CMYK JPEG; convert it to RGB or greyscale first)");
  });
  const int file_channels = colorspace == TJCS_GRAY ? 1 : 3;
  const int out_channels = desired_channels == 0 ? file_channels : desired_channels;
  // Grey+alpha has no TurboJPEG pixel format: decode grey, then add the alpha channel.
  const bool grey = out_channels <= 2;
  const int format = grey ? TJPF_GRAY : out_channels == 3 ? TJPF_RGB : TJPF_RGBA;
  const int decoded_channels = grey ? 1 : out_channels;
  std::vector<std::uint8_t> decoded(static_cast<std::size_t>(w) * h * decoded_channels);
  const int rc = tjDecompress2(tj.get(), data, bytes, decoded.data(), w, 0, h, format,
                               TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS | TJFLAG_ACCURATEDCT);
  check(rc == 0, [&] { return cat("image '", origin, "': cannot decode (corrupt JPEG: ", tj.last_error(), ")"); });
  jpeg_pixels out;
  out.width = w;
  out.height = h;
  out.channels = out_channels;
  if (out_channels == 2) {
    out.pixels.resize(decoded.size() * 2);
    for (std::size_t i = 0; i < decoded.size(); ++i) {
      out.pixels[2 * i] = decoded[i];
      out.pixels[2 * i + 1] = 255;
    }
  } else {
    out.pixels = std::move(decoded);
  }
  return out;
#endif
}
}  // namespace detail

}  // namespace vae::io
