// Tests for io/png.hpp and io/jpeg.hpp: grid layout, clamping, PNG round trips through stb, JPEG decoding through
// libjpeg-turbo, and clear errors.
#include "vae/io/png.hpp"  // first: it compiles the static stb copies this test also calls
#include "../temp_folder.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <unistd.h>
#include <vector>

namespace {
namespace fs = std::filesystem;
fs::path png_temp_dir() {
  static const vae::test::temp_folder dir("vae_test_png_");
  return dir.path();
}
}  // namespace

TEST_CASE("make_grid: layout, padding, clamping like torchvision.utils.make_grid") {
  // 5 grey 2x3 images, 3 per row -> 2 rows: height 2*(2+1)+1 = 7, width 3*(3+1)+1 = 13 with padding 1.
  vae::tensor<float> x(vae::shape{5, 1, 2, 3});
  for (std::int64_t k = 0; k < 5; ++k)
    for (int i = 0; i < 6; ++i) x[k * 6 + i] = static_cast<float>(k) / 4.f;
  x[0] = -3.f;                                      // clamps to 0
  x[1] = 7.f;                                       // clamps to 1
  x[2] = std::numeric_limits<float>::quiet_NaN();  // NaN -> 0
  const auto g = vae::io::make_grid(x, 3, 1);
  CHECK(g.width == 13);
  CHECK(g.height == 7);
  CHECK(g.channels == 1);
  auto px = [&](int y, int xx) { return static_cast<int>(g.pixels[static_cast<std::size_t>(y * g.width + xx)]); };
  CHECK(px(0, 0) == 0);  // padding
  CHECK(px(1, 1) == 0);
  CHECK(px(1, 2) == 255);
  CHECK(px(1, 3) == 0);
  CHECK(px(2, 1) == 0);      // image 0 is 0
  CHECK(px(1, 5) == 64);     // image 1: round(0.25 * 255)
  CHECK(px(1, 9) == 128);    // image 2: round(0.5 * 255) = 128 (127.5 rounds away from zero)
  CHECK(px(4, 1) == 191);    // image 3 at row 1
  CHECK(px(5, 7) == 255);    // image 4
  CHECK(px(4, 9) == 0);      // the empty sixth cell stays black
  CHECK(px(1, 4) == 0);      // padding column between images
}

TEST_CASE("write_png_grid / write_png: files decode back to the same pixels (grey and RGB)") {
  vae::tensor<float> rgb(vae::shape{2, 3, 4, 5});
  for (std::int64_t i = 0; i < rgb.numel(); ++i) rgb[i] = static_cast<float>(i % 17) / 16.f;
  const auto path = (png_temp_dir() / "grid.png").string();
  vae::io::write_png_grid(path, rgb, 8, 2);
  const auto expect = vae::io::make_grid(rgb, 8, 2);
  const auto back = vae::io::read_image(path);
  CHECK(back.width == expect.width);
  CHECK(back.height == expect.height);
  CHECK(back.channels == 3);
  CHECK(back.pixels == expect.pixels);
  // Only the final file is left: the atomic writer removed its temporary.
  int files = 0;
  for (const auto& e : fs::directory_iterator(png_temp_dir())) files += e.path().filename().string().find("grid.png") != std::string::npos;
  CHECK(files == 1);

  std::vector<std::uint8_t> grey(6 * 4);
  for (std::size_t i = 0; i < grey.size(); ++i) grey[i] = static_cast<std::uint8_t>(i * 10);
  const auto gp = (png_temp_dir() / "grey.png").string();
  vae::io::write_png(gp, grey.data(), 6, 4, 1);
  const auto g = vae::io::read_image(gp);
  CHECK(g.width == 6);
  CHECK(g.height == 4);
  CHECK(g.channels == 1);
  CHECK(g.pixels == grey);
  const auto g3 = vae::io::read_image(gp, 3);  // grey -> RGB replicates
  CHECK(g3.channels == 3);
  CHECK(g3.pixels[3 * 5 + 0] == 50);
  CHECK(g3.pixels[3 * 5 + 2] == 50);
}

namespace png_test {
// A w x h JPEG (quality 95): a flat 60 with a bright 220 square top-left, or, with `noisy`, a high-frequency pattern
// whose entropy-coded data is most of the file. Written by libjpeg-turbo where the build has it (stb_image_write
// writes every JPEG as colour), else by stb.
std::vector<unsigned char> jpeg_bytes(int w, int h, int channels, bool noisy = false) {
  std::vector<std::uint8_t> px(static_cast<std::size_t>(w * h * channels), 60);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c)
        px[static_cast<std::size_t>((y * w + x) * channels + c)] = static_cast<std::uint8_t>(
            noisy ? (x * 37 + y * 91 + c * 53 + x * y) % 256 : (y < h / 2 && x < w / 2 ? 220 : 60));
  std::vector<unsigned char> out;
#ifdef VAE_WITH_TURBOJPEG
  tjhandle tj = tjInitCompress();
  REQUIRE(tj != nullptr);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  const int rc = tjCompress2(tj, px.data(), w, 0, h, channels == 1 ? TJPF_GRAY : TJPF_RGB, &buf, &size,
                             channels == 1 ? TJSAMP_GRAY : TJSAMP_444, 95, 0);
  if (rc == 0) out.assign(buf, buf + size);
  tjFree(buf);
  tjDestroy(tj);
  REQUIRE(rc == 0);
#else
  REQUIRE(stbi_write_jpg_to_func(&vae::io::detail::append_bytes, &out, w, h, channels, px.data(), 95) != 0);
#endif
  return out;
}
}  // namespace png_test

TEST_CASE("decode_image reads JPEG through libjpeg-turbo: sizes, the file's channels and every conversion") {
  if (!vae::io::jpeg_supported()) {
    // Without libjpeg-turbo (VAE_WITH_TURBOJPEG undefined) what is tested is the refusal, naming the package.
    const auto j = png_test::jpeg_bytes(16, 16, 3);
    CHECK_THROWS_WITH_AS(vae::io::decode_image(j.data(), j.size(), 0, "a.jpg"), doctest::Contains("libturbojpeg0-dev"),
                         vae::error);
    return;
  }
  const auto rgb = png_test::jpeg_bytes(16, 12, 3);
  const auto grey = png_test::jpeg_bytes(16, 12, 1);
  const auto check_pixels = [](const vae::io::image& im, int channels) {
    REQUIRE(im.width == 16);
    REQUIRE(im.height == 12);
    REQUIRE(im.channels == channels);
    REQUIRE(im.pixels.size() == static_cast<std::size_t>(16 * 12 * channels));
    // Lossy, but a flat area keeps its value within a few levels; alpha (the last of 2 or 4 channels) is opaque.
    const int colour = channels == 2 || channels == 4 ? channels - 1 : channels;
    for (int c = 0; c < colour; ++c) {
      CHECK(std::abs(static_cast<int>(im.pixels[static_cast<std::size_t>(c)]) - 220) <= 3);                       // (0, 0)
      CHECK(std::abs(static_cast<int>(im.pixels[static_cast<std::size_t>((11 * 16 + 15) * channels + c)]) - 60) <= 3);  // (15, 11)
    }
    if (colour != channels) {
      for (std::size_t i = static_cast<std::size_t>(colour); i < im.pixels.size(); i += static_cast<std::size_t>(channels))
        REQUIRE(im.pixels[i] == 255);
    }
  };
  check_pixels(vae::io::decode_image(rgb.data(), rgb.size(), 0, "rgb.jpg"), 3);
  check_pixels(vae::io::decode_image(grey.data(), grey.size(), 0, "grey.jpg"), 1);
  for (int c = 1; c <= 4; ++c) {
    check_pixels(vae::io::decode_image(rgb.data(), rgb.size(), c, "rgb.jpg"), c);
    check_pixels(vae::io::decode_image(grey.data(), grey.size(), c, "grey.jpg"), c);
  }
  // Through a file, as folder:DIR datasets read them.
  const auto jp = (png_temp_dir() / "flat.jpg").string();
  {
    std::ofstream out(jp, std::ios::binary);
    out.write(reinterpret_cast<const char*>(rgb.data()), static_cast<std::streamsize>(rgb.size()));
  }
  check_pixels(vae::io::read_image(jp), 3);
}

TEST_CASE("decode_image: a truncated or oversized JPEG is an error naming the file, never a grey-filled picture") {
  const auto rgb = png_test::jpeg_bytes(64, 64, 3, true);
  // Cut inside the entropy-coded data: libjpeg would pad the rest with grey and call it a warning.
  const std::vector<unsigned char> cut(rgb.begin(), rgb.begin() + static_cast<std::ptrdiff_t>(rgb.size() * 3 / 4));
  // Cut inside the header: no frame.
  const std::vector<unsigned char> head(rgb.begin(), rgb.begin() + 40);
  if (!vae::io::jpeg_supported()) {
    // Without libjpeg-turbo a broken JPEG is refused as every JPEG is, by the start of its bytes, never decoded.
    CHECK_THROWS_WITH_AS(vae::io::decode_image(cut.data(), cut.size(), 0, "cut.jpg"),
                         doctest::Contains("image 'cut.jpg': cannot decode a JPEG in this build"), vae::error);
    CHECK_THROWS_WITH_AS(vae::io::decode_image(head.data(), head.size(), 0, "head.jpg"),
                         doctest::Contains("image 'head.jpg': cannot decode a JPEG in this build"), vae::error);
    return;
  }
  CHECK_THROWS_WITH_AS(vae::io::decode_image(cut.data(), cut.size(), 0, "cut.jpg"),
                       doctest::Contains("image 'cut.jpg': cannot decode (corrupt JPEG: "), vae::error);
  CHECK_THROWS_WITH_AS(vae::io::decode_image(head.data(), head.size(), 0, "head.jpg"),
                       doctest::Contains("image 'head.jpg': cannot decode (corrupt JPEG header: "), vae::error);
  // The pixel limit applies before anything is decoded.
  CHECK_THROWS_WITH_AS(vae::io::decode_image(rgb.data(), rgb.size(), 0, "big.jpg", 64 * 63),
                       doctest::Contains("image 'big.jpg': 64x64 pixels is more than this loader decodes (4032 pixels)"),
                       vae::error);
  CHECK(vae::io::decode_image(rgb.data(), rgb.size(), 0, "big.jpg", 64 * 64).width == 64);
}

TEST_CASE("png: bad inputs give clear errors") {
  vae::tensor<float> two(vae::shape{1, 2, 3, 3}, 0.5f);
  CHECK_THROWS_WITH_AS(vae::io::make_grid(two), doctest::Contains("C = 1 or 3, got [1, 2, 3, 3]"), vae::error);
  vae::tensor<float> flat(vae::shape{4, 9}, 0.5f);
  CHECK_THROWS_WITH_AS(vae::io::write_png_grid((png_temp_dir() / "x.png").string(), flat),
                       doctest::Contains("expected images [N, C, H, W]"), vae::error);
  vae::tensor<float> one(vae::shape{1, 1, 2, 2}, 0.5f);
  CHECK_THROWS_WITH_AS(vae::io::make_grid(one, 0), doctest::Contains("nrow > 0"), vae::error);
  std::uint8_t p[4] = {};
  CHECK_THROWS_WITH_AS(vae::io::write_png((png_temp_dir() / "y.png").string(), p, 2, 2, 5), doctest::Contains("1..4 channels"),
                       vae::error);
  const auto junk = png_temp_dir() / "junk.png";
  {
    std::ofstream out(junk, std::ios::binary);
    out << "this is not an image";
  }
  CHECK_THROWS_WITH_AS(vae::io::read_image(junk.string()), doctest::Contains("junk.png': cannot decode"), vae::error);
  // A PNG cut in half.
  const auto whole = vae::io::encode_png(p, 2, 2, 1);
  const auto cut = png_temp_dir() / "cut.png";
  {
    std::ofstream out(cut, std::ios::binary);
    out.write(reinterpret_cast<const char*>(whole.data()), static_cast<std::streamsize>(whole.size() / 2));
  }
  CHECK_THROWS_WITH_AS(vae::io::read_image(cut.string()), doctest::Contains("cannot decode"), vae::error);
  CHECK_THROWS_WITH_AS(vae::io::read_image((png_temp_dir() / "none.png").string()), doctest::Contains("cannot open image file"),
                       vae::error);
  CHECK_THROWS_WITH_AS(vae::io::write_png_grid("/nonexistent-dir/z.png", one), doctest::Contains("cannot create a temporary"),
                       vae::error);
}
