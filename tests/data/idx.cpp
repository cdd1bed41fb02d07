// Tests for data/idx.hpp: plain and gzipped IDX files, and clear errors for corrupt, truncated or mismatched files.
#include <doctest/doctest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "vae/data/idx.hpp"
#include "../temp_folder.hpp"

namespace {
namespace fs = std::filesystem;
fs::path idx_temp_dir() {
  static const vae::test::temp_folder dir("vae_test_idx_");
  return dir.path();
}
std::vector<unsigned char> idx_bytes(std::vector<std::uint32_t> dims, std::size_t data_bytes, unsigned char type = 0x08) {
  std::vector<unsigned char> b = {0, 0, type, static_cast<unsigned char>(dims.size())};
  for (auto d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>(d >> s));
  for (std::size_t i = 0; i < data_bytes; ++i) b.push_back(static_cast<unsigned char>(i * 7));
  return b;
}
std::string write(const std::string& name, const std::vector<unsigned char>& b, bool gz = false) {
  const auto p = (idx_temp_dir() / name).string();
  if (gz) {
    gzFile f = gzopen(p.c_str(), "wb");
    gzwrite(f, b.data(), static_cast<unsigned>(b.size()));
    gzclose(f);
  } else {
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }
  return p;
}
std::string idx_error_of(const std::string& path) {
  try {
    vae::data::read_idx(path);
  } catch (const vae::error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("idx: images and labels, plain and gzipped, read identically") {
  for (bool gz : {false, true}) {
    CAPTURE(gz);
    const auto ip = write(gz ? "img.gz" : "img", idx_bytes({3, 2, 4}, 24), gz);
    const auto lp = write(gz ? "lab.gz" : "lab", idx_bytes({3}, 3), gz);
    const auto images = vae::data::read_idx_images(ip);
    CHECK(images.shape() == vae::shape{3, 2, 4});
    for (int i = 0; i < 24; ++i) CHECK(images[i] == static_cast<std::uint8_t>(i * 7));
    const auto labels = vae::data::read_idx_labels(lp);
    REQUIRE(labels.size() == 3);
    CHECK(labels[2] == 14);
  }
}

TEST_CASE("idx: a large gzipped file (more than one read chunk) inflates completely") {
  const auto p = write("big.gz", idx_bytes({3000, 28, 28}, 3000 * 784), true);
  const auto images = vae::data::read_idx_images(p);
  CHECK(images.shape() == vae::shape{3000, 28, 28});
  CHECK(images[3000 * 784 - 1] == static_cast<std::uint8_t>((3000 * 784 - 1) * 7));
}

TEST_CASE("idx: corrupt and truncated files give errors naming the file and the problem") {
  auto e = idx_error_of(write("short", {0, 0}));
  CHECK(e.find("short") != std::string::npos);
  CHECK(e.find("too short") != std::string::npos);

  auto bad = idx_bytes({2}, 2);
  bad[0] = 0x1f;
  e = idx_error_of(write("magic", bad));
  CHECK(e.find("bad magic 0x1f000801") != std::string::npos);
  e = idx_error_of(write("float", idx_bytes({2}, 8, 0x0D)));
  CHECK(e.find("element type 0x0d is not supported") != std::string::npos);
  e = idx_error_of(write("rank0", idx_bytes({}, 0)));
  CHECK(e.find("rank 0") != std::string::npos);

  auto cut_header = idx_bytes({2, 3, 4}, 0);
  cut_header.resize(10);
  CHECK(idx_error_of(write("cut_header", cut_header)).find("shorter than its 16-byte header") != std::string::npos);

  e = idx_error_of(write("trunc", idx_bytes({3, 2, 4}, 20)));
  CHECK(e.find("data section is 20 bytes") != std::string::npos);
  CHECK(e.find("need 24 (truncated file)") != std::string::npos);
  CHECK(idx_error_of(write("trailing", idx_bytes({3}, 5))).find("trailing bytes") != std::string::npos);
  CHECK(idx_error_of(write("overflow", idx_bytes({0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, 0))).find("overflows") !=
        std::string::npos);

  // A .gz cut short: zlib reports an unexpected end of file.
  const auto full = write("whole.gz", idx_bytes({50, 10, 10}, 5000), true);
  std::vector<unsigned char> gz;
  {
    std::ifstream in(full, std::ios::binary);
    gz.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  gz.resize(gz.size() / 2);
  e = idx_error_of(write("half.gz", gz));
  CHECK(e.find("half.gz") != std::string::npos);
  CHECK(e.find("truncated or corrupt .gz") != std::string::npos);

  CHECK(idx_error_of((idx_temp_dir() / "missing").string()).find("no such file") != std::string::npos);

  const auto labels = write("labels3", idx_bytes({3}, 3));
  CHECK_THROWS_WITH_AS(vae::data::read_idx_images(labels), doctest::Contains("expected images (magic 0x00000803"),
                       vae::error);
  const auto images = write("images3", idx_bytes({1, 2, 2}, 4));
  CHECK_THROWS_WITH_AS(vae::data::read_idx_labels(images), doctest::Contains("expected labels (magic 0x00000801"),
                       vae::error);
}
