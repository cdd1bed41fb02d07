// Tests for io/png.hpp: grid layout, clamping, PNG round trips through stb, JPEG decoding, and clear errors.
#include "vae/io/png.hpp"  // first: it compiles the static stb copies this test also calls

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <unistd.h>

namespace {
namespace fs = std::filesystem;
fs::path png_temp_dir() {
  static const fs::path dir = [] {
    auto d = fs::temp_directory_path() / ("vae_test_png_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
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

TEST_CASE("read_image decodes JPEG (approximately: lossy)") {
  std::vector<std::uint8_t> px(16 * 16 * 3, 200);
  const auto jp = (png_temp_dir() / "flat.jpg").string();
  REQUIRE(stbi_write_jpg(jp.c_str(), 16, 16, 3, px.data(), 95) != 0);
  const auto j = vae::io::read_image(jp);
  CHECK(j.width == 16);
  CHECK(j.channels == 3);
  CHECK(std::abs(static_cast<int>(j.pixels[100]) - 200) <= 2);
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
