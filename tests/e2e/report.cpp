// End-to-end: `vae train` writes DIR/report.html after a tiny run; `vae report --run DIR [--out FILE]` rebuilds it.
#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace e2e_report {

namespace fs = std::filesystem;

const fs::path vae_tool = fs::path(VAE_BINARY_DIR) / "tools" / "vae";

// Exit status and stdout + stderr of the tool run with `args`.
std::pair<int, std::string> run_tool(const std::string& args) {
  const std::string cmd = "OMP_NUM_THREADS=2 " + vae_tool.string() + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int rc = ::pclose(p);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

int occurrences(const std::string& s, const std::string& what) {
  int n = 0;
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST_CASE("vae train writes report.html; vae report rebuilds it, to --out too; a non-run is refused") {
  if (!fs::exists(vae_tool)) {
    std::printf("SKIPPED: %s was not built (configure with VAE_BUILD_TOOLS=ON)\n", vae_tool.c_str());
    std::exit(77);
  }
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    std::printf("SKIPPED: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)\n");
    std::exit(77);
  }
  const auto root = fs::temp_directory_path() / ("vae_e2e_report_" + std::to_string(::getpid()));
  const auto dir = root / "run";
  fs::remove_all(root);
  // Two steps of 128 images: this test is about the files, not about the model.
  auto [rc, out] = run_tool("train --model mlp-vae --epochs 1 --limit 256 --seed 5 --out " + dir.string());
  INFO(out);
  REQUIRE(rc == 0);
  CHECK(out.find("warning") == std::string::npos);
  REQUIRE(fs::exists(dir / "report.html"));
  const auto page = read_text(dir / "report.html");
  CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(page.find("vae run: mlp-vae on fashion-mnist") != std::string::npos);
  CHECK(page.find("1 epoch recorded of 1") != std::string::npos);
  // The curves of the keys this model logs, and its three pictures embedded.
  for (const char* key : {"train_loss", "test_loss", "test_elbo", "test_mse"})
    CHECK_MESSAGE(page.find(std::string("<polyline data-key=\"") + key + "\"") != std::string::npos, key);
  CHECK(occurrences(page, "src=\"data:image/png;base64,") == 3);
  for (const char* png : {"reconstructions.png", "samples.png", "interpolation.png"})
    CHECK_MESSAGE(page.find(std::string("<b>") + png + "</b>") != std::string::npos, png);
  CHECK(page.find("<script") == std::string::npos);

  // Rebuilt from the run directory alone: the same page but for the time it was written.
  fs::remove(dir / "report.html");
  std::tie(rc, out) = run_tool("report --run " + dir.string());
  CHECK(rc == 0);
  CHECK(out.find("wrote " + (dir / "report.html").string()) != std::string::npos);
  const auto rebuilt = read_text(dir / "report.html");
  auto without_time = [](std::string s) {
    const auto at = s.find(" &#183; written ");
    return at == std::string::npos ? s : s.erase(at, s.find("</p>", at) - at);
  };
  CHECK(rebuilt.size() == page.size());
  CHECK(without_time(rebuilt) == without_time(page));
  std::tie(rc, out) = run_tool("report --run " + dir.string() + " --out " + (root / "copy.html").string());
  CHECK(rc == 0);
  CHECK(without_time(read_text(root / "copy.html")) == without_time(page));

  std::tie(rc, out) = run_tool("report --run " + (root / "nothing").string());
  CHECK(rc == 1);
  CHECK(out.find("is not a training run: it has no config.json") != std::string::npos);
  fs::remove_all(root);
}

}  // namespace e2e_report
