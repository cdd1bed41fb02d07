// End-to-end: the `vae` tool trains image models on the captioned sources (shapes, folder-captions) and refuses bad ones (label slow).
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "e2e_support.hpp"
#include "vae/io/png.hpp"

namespace cli_captioned_data_test {
namespace fs = std::filesystem;

using vae::test::e2e::run_vae;

inline fs::path scratch_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("vae_e2e_captioned_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  return d;
}
}  // namespace cli_captioned_data_test

TEST_CASE("vae train --model vq-vae --data shapes: trains on 3x32x32 shapes, eval rebuilds the same data") {
  namespace t = cli_captioned_data_test;
  const auto dir = t::scratch_dir("shapes");
  const std::string spec = "shapes:size=32,n=256,test=32,seed=5";
  auto r = t::run_vae("train --model vq-vae --data " + spec + " --epochs 1 --batch 64 --out " + dir.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("256 training and 32 test images of 3x32x32") != std::string::npos);
  std::ifstream in(dir / "config.json");
  const auto config = nlohmann::json::parse(in);
  CHECK(config["data"] == spec);
  r = t::run_vae("eval --run " + dir.string());
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(r.output.find("\"n\":32") != std::string::npos);
  r = t::run_vae("train --model vq-vae --data shapes:size=48 --out " + t::scratch_dir("bad").string());
  CHECK(r.status != 0);
  CHECK(r.output.find("image_size must be 32, 64 or 128, got 48") != std::string::npos);
  fs::remove_all(dir.parent_path());
}

TEST_CASE("vae train --data folder-captions:DIR: trains on the images; images without captions are named") {
  namespace t = cli_captioned_data_test;
  const auto data = t::scratch_dir("folder");
  fs::create_directories(data);
  std::vector<std::uint8_t> px(8 * 8 * 3);
  for (int i = 0; i < 8; ++i) {
    for (std::size_t k = 0; k < px.size(); ++k) px[k] = static_cast<std::uint8_t>((k * 7 + static_cast<std::size_t>(i) * 31) % 256);
    vae::io::write_png((data / ("img" + std::to_string(i) + ".png")).string(), px.data(), 8, 8, 3);
    std::ofstream(data / ("img" + std::to_string(i) + ".txt")) << "picture number " << i << "\n";
  }
  const auto run_dir = t::scratch_dir("folder_run");
  auto r = t::run_vae("train --model conv-ae --data folder-captions:" + data.string() + " --epochs 1 --batch 4 --out " +
                      run_dir.string());
  INFO(r.output);
  CHECK(r.status == 0);
  fs::remove(data / "img3.txt");
  r = t::run_vae("train --model conv-ae --data folder-captions:" + data.string() + " --epochs 1 --out " +
                 t::scratch_dir("folder_run2").string());
  CHECK(r.status != 0);
  CHECK(r.output.find("1 image(s) have no caption file beside them") != std::string::npos);
  CHECK(r.output.find("img3.png") != std::string::npos);
  fs::remove_all(data.parent_path());
}
