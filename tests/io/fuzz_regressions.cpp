// Regression tests for what fuzzing the loaders (fuzz/, scripts/fuzz.sh) found, one case per finding.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "vae/io/npy.hpp"
#include "vae/io/png.hpp"
#include "vae/io/safetensors.hpp"

namespace fuzz_regressions_test {
// The message of the vae::error that f throws ("" and a failed CHECK when it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const vae::error& e) {
    return e.message();
  }
  FAIL_CHECK("expected a vae::error");
  return "";
}
bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
template <class T>
vae::io::npy_array npy_of(const std::vector<T>& v) {
  return vae::io::parse_npy(vae::io::encode_npy(v.data(), vae::shape{static_cast<std::int64_t>(v.size())}), "t.npy");
}


// fuzz/npy found it: as<uint8_t>() on a float32 array holding 1.8e31 was a float-to-integer conversion out of range
// (undefined behaviour, reported by UBSan); `vae decode --tokens` reads any dtype through as<int32_t>().
TEST_CASE("npy as<integer>: a float that is not a whole number in range is an error naming the file and element") {
  const auto big = npy_of(std::vector<float>{1.f, 1.8e31f});
  auto m = error_of([&] { (void)big.as<std::uint8_t>(); });
  INFO(m);
  CHECK(has(m, "npy 't.npy' (dtype <f4, shape [2]): element 1 is 1.8e+31, which cannot be read as a 8-bit unsigned integer"));
  m = error_of([&] { (void)npy_of(std::vector<float>{std::numeric_limits<float>::quiet_NaN()}).as<std::int32_t>(); });
  CHECK(has(m, "element 0 is nan"));
  m = error_of([&] { (void)npy_of(std::vector<double>{2.0, 3.5}).as<std::int32_t>(); });
  CHECK(has(m, "element 1 is 3.5, which cannot be read as a 32-bit signed integer"));
  m = error_of([&] { (void)npy_of(std::vector<std::int64_t>{std::int64_t{1} << 40}).as<std::int32_t>(); });
  CHECK(has(m, "element 0 is 1099511627776"));
  m = error_of([&] { (void)npy_of(std::vector<std::int32_t>{-1}).as<std::uint8_t>(); });
  CHECK(has(m, "element 0 is -1"));
  // Whole numbers in range still convert, at both ends of the range.
  const auto ok = npy_of(std::vector<double>{-2147483648.0, 2147483647.0, 0.0}).as<std::int32_t>();
  CHECK(ok[0] == std::numeric_limits<std::int32_t>::min());
  CHECK(ok[1] == std::numeric_limits<std::int32_t>::max());
  CHECK(npy_of(std::vector<double>{2147483648.0}).as<double>()[0] == 2147483648.0);
  CHECK(!error_of([&] { (void)npy_of(std::vector<double>{2147483648.0}).as<std::int32_t>(); }).empty());
}

TEST_CASE("safetensors values<integer>: the same check for stored floats, halves included") {
  vae::io::stored_tensor t;
  t.type = vae::io::dtype::f16;
  t.dims = vae::shape{1};
  t.bytes = {0x00, 0x7c};  // +inf in IEEE half precision
  auto m = error_of([&] { (void)t.values<std::int64_t>(); });
  CHECK(has(m, "element 0 is inf, which cannot be read as a 64-bit signed integer"));
  CHECK(t.values<float>()[0] == std::numeric_limits<float>::infinity());
}

// fuzz/image found it: a JPEG whose DHT segment declares more than 256 Huffman codes made stb_image 2.27 (Debian 12)
// write past its tables. JPEG is now decoded by libjpeg-turbo, which rejects such tables; these files must stay a
// vae::error naming the file.
TEST_CASE("decode_image: a JPEG Huffman table of more than 256 codes is refused") {
  std::vector<unsigned char> jpeg = {0xFF, 0xD8, 0xFF, 0xC4, 0x00, 0x13, 0x00};  // SOI, DHT of length 19, class 0
  jpeg.insert(jpeg.end(), 16, 0xFF);                                          // 16 x 255 = 4080 codes
  auto m = error_of([&] { (void)vae::io::decode_image(jpeg.data(), jpeg.size(), 0, "huff.jpg"); });
  CHECK(has(m, "image 'huff.jpg': cannot decode"));
  // The same table after fill bytes and an APP0 segment whose payload holds FF C4.
  std::vector<unsigned char> later = {0xFF, 0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x06, 0xFF, 0xC4, 0x00, 0x00, 0xFF, 0xC4,
                                      0x00, 0x13, 0x10};
  later.insert(later.end(), 16, 0x20);  // 512 codes
  m = error_of([&] { (void)vae::io::decode_image(later.data(), later.size(), 0, "later.jpg"); });
  CHECK(has(m, "image 'later.jpg': cannot decode"));
}

// fuzz/image found it (a timeout): an 81-byte BMP declaring 17249 x 24624 pixels made stb_image allocate and fill
// 1.3 GB, reading zeros past the end of the file, as it does for any truncated BMP.
namespace {
std::vector<unsigned char> bmp_24bit(std::uint32_t w, std::uint32_t h, std::size_t pixel_bytes) {
  const auto le = [](std::vector<unsigned char>& b, std::uint32_t v, int n) {
    for (int k = 0; k < n; ++k) b.push_back(static_cast<unsigned char>(v >> (8 * k)));
  };
  std::vector<unsigned char> b = {'B', 'M'};
  le(b, static_cast<std::uint32_t>(54 + pixel_bytes), 4);
  le(b, 0, 4);
  le(b, 54, 4);  // pixels start after the 14 + 40 header bytes
  le(b, 40, 4);
  le(b, w, 4);
  le(b, h, 4);
  le(b, 1, 2);
  le(b, 24, 2);
  for (int k = 0; k < 6; ++k) le(b, 0, 4);  // no compression, sizes and palette fields unused
  b.resize(b.size() + pixel_bytes, 0x80);
  return b;
}
}  // namespace

TEST_CASE("decode_image: headers declaring more pixels than the file holds, or than the loader decodes, are refused") {
  const auto whole = bmp_24bit(3, 2, 2 * 12);  // rows of 9 bytes padded to 12
  const auto im = vae::io::decode_image(whole.data(), whole.size(), 0, "whole.bmp");
  CHECK(im.width == 3);
  CHECK(im.height == 2);
  CHECK(im.pixels[0] == 0x80);
  const auto cut = bmp_24bit(3, 2, 12 + 5);  // the second row cut short
  auto m = error_of([&] { (void)vae::io::decode_image(cut.data(), cut.size(), 0, "cut.bmp"); });
  CHECK(has(m, "image 'cut.bmp': cannot decode (truncated BMP: its header declares 3x2 pixels, whose rows need 7 more "
               "bytes than the file's 71)"));
  const auto huge = bmp_24bit(17249, 24624, 27);
  m = error_of([&] { (void)vae::io::decode_image(huge.data(), huge.size(), 0, "huge.bmp"); });
  CHECK(has(m, "image 'huge.bmp': 17249x24624 pixels is more than this loader decodes (67108864 pixels"));
  // fuzz/image found it (a timeout): stb reads unknown compression codes as uncompressed rows, so they are checked too.
  auto odd = cut;
  odd[30] = 0x60;
  odd[31] = 0x8c;
  odd[32] = 0xff;
  odd[33] = 0xff;
  m = error_of([&] { (void)vae::io::decode_image(odd.data(), odd.size(), 0, "odd.bmp"); });
  CHECK(has(m, "truncated BMP"));
  // A top-down BMP (negative height) over the pixel limit: stb's header query reports the height negative.
  auto top_down = bmp_24bit(24, 0, 0);
  const std::uint32_t minus = static_cast<std::uint32_t>(-8388613);
  for (int k = 0; k < 4; ++k) top_down[22 + k] = static_cast<unsigned char>(minus >> (8 * k));
  m = error_of([&] { (void)vae::io::decode_image(top_down.data(), top_down.size(), 0, "top_down.bmp"); });
  CHECK(has(m, "image 'top_down.bmp': 24x8388613 pixels is more than this loader decodes"));
  // fuzz/image found it: stb_image 2.27 returns a BMP of height 0 as a 3x0 image; now an error.
  const auto empty = bmp_24bit(3, 0, 0);
  m = error_of([&] { (void)vae::io::decode_image(empty.data(), empty.size(), 0, "empty.bmp"); });
  CHECK(has(m, "image 'empty.bmp': cannot decode (it has no pixels: 3x0)"));
  // At the limit the header is believed, and the missing rows are what is refused.
  const auto limit = bmp_24bit(8192, 8192, 27);
  m = error_of([&] { (void)vae::io::decode_image(limit.data(), limit.size(), 0, "limit.bmp"); });
  CHECK(has(m, "truncated BMP: its header declares 8192x8192 pixels"));
}

// fuzz/image found it: a colour JPEG with corrupt entropy-coded data (tests/golden/corrupt_jpeg_huffman.jpg, the
// fuzzer's input) failed stb_image's internal check in stbi__jpeg_huff_decode, which aborted the program where
// asserts are on, and decoded to different pictures in different builds. libjpeg-turbo reports the corrupt data (a
// warning it would otherwise fill with grey), which decode_image turns into an error in every build.
TEST_CASE("decode_image: a JPEG with corrupt entropy-coded data is refused, naming the file") {
  const auto path = std::string(VAE_GOLDEN_DIR) + "/corrupt_jpeg_huffman.jpg";
  const auto m = error_of([&] { (void)vae::io::read_image(path); });
  CHECK(has(m, "corrupt_jpeg_huffman.jpg': cannot decode (corrupt JPEG: "));
}

// fuzz/image found it (out of memory): a 75-byte PNG whose second IDAT chunk declares 0x7a00800e bytes made stb_image
// reserve 2 GB before finding the data missing.
TEST_CASE("decode_image: a PNG chunk longer than the rest of the file is refused before stb reserves it") {
  std::uint8_t px[4] = {0, 64, 128, 255};
  auto png = vae::io::encode_png(px, 2, 2, 1);
  CHECK(vae::io::decode_image(png.data(), png.size(), 0, "ok.png").width == 2);
  // Drop IEND (12 bytes) and append an IDAT chunk header that declares 0x7a00800e bytes, followed by 6 of them.
  png.resize(png.size() - 12);
  const std::vector<unsigned char> huge = {0x7a, 0x00, 0x80, 0x0e, 'I', 'D', 'A', 'T', 0x78, 0xa6, 0x83, 0, 0, 0};
  png.insert(png.end(), huge.begin(), huge.end());
  const auto m = error_of([&] { (void)vae::io::decode_image(png.data(), png.size(), 0, "huge_chunk.png"); });
  CHECK(has(m, "image 'huge_chunk.png': cannot decode (truncated PNG: a chunk declares more bytes than the file has)"));
}

// fuzz/image found it (undefined behaviour, UBSan): an empty first IDAT chunk made stb_image 2.27 memcpy from its
// still-null buffer. Empty IDAT chunks carry no data and are dropped before stb reads the file: the fuzzer's input is
// refused as a file without image data, and a valid PNG with empty IDATs inserted decodes to the same pixels.
TEST_CASE("decode_image: empty IDAT chunks are dropped before stb_image reads them") {
  const std::vector<unsigned char> found = {
      0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 'I', 'H', 'D', 'R', 0, 0, 0, 0xff, 0, 0, 0, 2, 8, 0,
      0, 0, 0, 0x4b, 0, 0, 0, 0, 0, 0, 0, 'I', 'D', 'A', 'T', 0x78, 0x9c, 'I', 'E', 'N', 'D', 0xae, 'B', '`', 0x82};
  const auto m = error_of([&] { (void)vae::io::decode_image(found.data(), found.size(), 0, "empty_idat.png"); });
  CHECK(has(m, "image 'empty_idat.png': cannot decode"));

  std::uint8_t px[6] = {0, 64, 128, 255, 7, 9};
  auto png = vae::io::encode_png(px, 3, 2, 1);
  const std::vector<unsigned char> empty_idat = {0, 0, 0, 0, 'I', 'D', 'A', 'T', 0x35, 0xaf, 0x06, 0x1e};
  png.insert(png.begin() + 33, empty_idat.begin(), empty_idat.end());  // after the signature and IHDR (8 + 25)
  png.insert(png.end() - 12, empty_idat.begin(), empty_idat.end());     // and before IEND
  const auto im = vae::io::decode_image(png.data(), png.size(), 0, "with_empty_idat.png");
  REQUIRE(im.width == 3);
  REQUIRE(im.height == 2);
  CHECK(std::equal(im.pixels.begin(), im.pixels.end(), px));
}

}  // namespace fuzz_regressions_test
