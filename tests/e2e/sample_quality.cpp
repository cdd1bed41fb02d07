// End-to-end: `vae train --model classifier` and `vae eval --fid` through the built tool, bad input included (slow).
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "vae/core/tensor.hpp"
#include "vae/io/npy.hpp"

namespace fs = std::filesystem;

namespace sample_quality_e2e {

const fs::path vae_tool = fs::path(VAE_BINARY_DIR) / "tools" / "vae";

struct tool_result {
  int status;
  std::string output;
};

tool_result run_tool(const std::string& args) {
  const std::string cmd = "OMP_NUM_THREADS=2 " + vae_tool.string() + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int rc = ::pclose(p);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

nlohmann::json last_json(const std::string& out) {
  std::istringstream in(out);
  nlohmann::json last;
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line.front() == '{') last = nlohmann::json::parse(line);
  return last;
}

struct scratch_dir {
  fs::path root = fs::temp_directory_path() / ("vae_e2e_fid_" + std::to_string(::getpid()));
  scratch_dir() { fs::create_directories(root); }
  ~scratch_dir() { fs::remove_all(root); }
};

}  // namespace sample_quality_e2e
using namespace sample_quality_e2e;

TEST_CASE("classifier training, vae eval --fid of samples and reconstructions, and its refusals") {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    MESSAGE("skipped: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)");
    std::exit(77);
  }
  scratch_dir d;
  const std::string cls = (d.root / "cls").string(), vae_run = (d.root / "mlp").string();
  auto r = run_tool("train --model classifier --epochs 1 --limit 3000 --out " + cls);
  INFO(r.output);
  REQUIRE(r.status == 0);
  const auto trained = last_json(r.output);
  CHECK(trained["test_accuracy"].get<double>() > 0.6);  // 1 epoch on 3000 images; chance is 0.1
  CHECK(trained.contains("train_accuracy"));
  CHECK(!fs::exists(fs::path(cls) / "reconstructions.png"));

  r = run_tool("eval --run " + cls);
  REQUIRE(r.status == 0);
  CHECK(last_json(r.output)["test_accuracy"].get<double>() == trained["test_accuracy"].get<double>());

  r = run_tool("train --model mlp-vae --epochs 1 --limit 3000 --out " + vae_run);
  REQUIRE(r.status == 0);
  const std::string saved = (d.root / "images").string();
  r = run_tool("eval --run " + vae_run + " --fid --classifier " + cls + " --n 400 --save-images " + saved);
  INFO(r.output);
  REQUIRE(r.status == 0);
  const auto j = last_json(r.output);
  CHECK(j["fid_of"] == "samples");
  CHECK(j["fid_n_generated"] == 400);
  CHECK(j["fid"].get<double>() > 0);
  for (const char* key : {"precision", "recall"}) {
    CHECK(j[key].get<double>() >= 0);
    CHECK(j[key].get<double>() <= 1);
  }
  CHECK(j["inception_score"].get<double>() >= 1);
  CHECK(j["inception_score"].get<double>() <= 10);
  CHECK(!j.contains("fid_warning"));
  CHECK(j.contains("test_elbo"));  // the usual evaluation is still there
  const auto gen = vae::io::read_npy(saved + "/generated.npy");
  CHECK(gen.dims == vae::shape{400, 1, 28, 28});
  CHECK(vae::io::read_npy(saved + "/real.npy").dims == vae::shape{400, 1, 28, 28});

  // The training images against the test images are much closer than a 1-epoch VAE's samples.
  r = run_tool("eval --run " + vae_run + " --fid --classifier " + cls + " --n 400 --of train");
  REQUIRE(r.status == 0);
  const auto train_fd = last_json(r.output)["fid"].get<double>();
  MESSAGE("FD(test, train) " << train_fd << " vs FD(test, samples) " << j["fid"].get<double>());
  CHECK(train_fd < 0.5 * j["fid"].get<double>());
  CHECK(last_json(r.output).contains("class_accuracy"));

  // Fewer images than feature dimensions: a warning, a finite number, no NaN.
  r = run_tool("eval --run " + vae_run + " --fid --classifier " + cls + " --n 60 --of reconstructions");
  REQUIRE(r.status == 0);
  CHECK(r.output.find("warning: a feature set has 60 vectors in 128 dimensions") != std::string::npos);
  CHECK(std::isfinite(last_json(r.output)["fid"].get<double>()));
  CHECK(r.output.find("nan") == std::string::npos);

  r = run_tool("eval --run " + vae_run + " --fid");
  CHECK(r.status != 0);
  CHECK(r.output.find("--fid needs --classifier DIR") != std::string::npos);
  r = run_tool("eval --run " + vae_run + " --fid --classifier " + vae_run);
  CHECK(r.status != 0);
  CHECK(r.output.find("is a mlp-vae run, not a classifier") != std::string::npos);

  // A classifier of other images (3x12x12, from npy with labels) is refused, naming both sizes.
  vae::tensor<std::uint8_t> imgs({60, 3, 12, 12});
  std::vector<std::int32_t> labels(60);
  for (std::int64_t i = 0; i < imgs.numel(); ++i) imgs.data()[i] = static_cast<std::uint8_t>((i * 37) % 251);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int32_t>(i % 3);
  const std::string npy_images = (d.root / "imgs.npy").string(), npy_labels = (d.root / "labels.npy").string();
  vae::io::write_npy(npy_images, imgs);
  vae::io::write_npy(npy_labels, labels.data(), vae::shape{60});
  const std::string cls_rgb = (d.root / "cls_rgb").string();
  r = run_tool("train --model classifier --epochs 1 --batch 16 --data npy:" + npy_images + "," + npy_labels + " --out " + cls_rgb);
  INFO(r.output);
  REQUIRE(r.status == 0);
  r = run_tool("eval --run " + vae_run + " --fid --classifier " + cls_rgb + " --n 100");
  CHECK(r.status != 0);
  CHECK(r.output.find("takes 3x12x12 images but the evaluated run's are 1x28x28") != std::string::npos);

  // Data without labels cannot train a classifier.
  r = run_tool("train --model classifier --epochs 1 --data npy:" + npy_images + " --out " + (d.root / "nolabels").string());
  CHECK(r.status != 0);
  CHECK(r.output.find("--model classifier needs labels") != std::string::npos);
}
