// metrics_log: one JSON object per line, flushed as written, appended on reopen; clear errors.
#include "vae/train/metrics_log.hpp"

#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <doctest/doctest.h>

using namespace vae;

namespace {
std::filesystem::path fresh_dir(const std::string& name) {
  const auto dir = std::filesystem::path(VAE_BINARY_DIR) / "test_tmp" / name;
  std::filesystem::remove_all(dir);
  return dir;
}
std::vector<std::string> read_lines(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}
}  // namespace

TEST_CASE("metrics_log writes one flushed JSON object per line and appends on reopen") {
  const auto dir = fresh_dir("metrics_log") / "run1";  // created, parents included
  {
    metrics_log log(dir);
    CHECK(log.path() == dir / "metrics.jsonl");
    log.write({{"step", 1}, {"loss", 0.5}});
    // Flushed: another reader sees the line while the log is still open.
    const auto lines = read_lines(dir / "metrics.jsonl");
    REQUIRE(lines.size() == 1);
    CHECK(lines[0] == R"({"loss":0.5,"step":1})");
    log.write({{"step", 2}, {"loss", std::numeric_limits<double>::quiet_NaN()}, {"phase", "train"}});
  }
  {
    metrics_log log(dir);
    log.write({{"epoch", 1}, {"val_loss", 0.25}});
  }
  const auto lines = read_lines(dir / "metrics.jsonl");
  REQUIRE(lines.size() == 3);
  const auto second = nlohmann::json::parse(lines[1]);
  CHECK(second["step"] == 2);
  CHECK(second["loss"].is_null());  // NaN has no JSON spelling
  CHECK(second["phase"] == "train");
  CHECK(nlohmann::json::parse(lines[2])["val_loss"] == 0.25);
}

TEST_CASE("metrics_log rejects non-objects and unusable directories") {
  const auto dir = fresh_dir("metrics_log_errors");
  metrics_log log(dir);
  CHECK_THROWS_WITH_AS(log.write(nlohmann::json::array({1, 2})), doctest::Contains("expected a JSON object, got array"),
                       vae::error);
  std::ofstream(dir / "a_file") << "x";
  CHECK_THROWS_WITH_AS(metrics_log(dir / "a_file" / "sub"), doctest::Contains("metrics_log: cannot create directory"),
                       vae::error);
}
