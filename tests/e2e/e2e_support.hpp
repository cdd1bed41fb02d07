// e2e_support: running the built `vae` tool from a test and reading a run's metrics.
#pragma once
#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace vae::test::e2e {

inline std::filesystem::path vae_tool() { return std::filesystem::path(VAE_BINARY_DIR) / "tools" / "vae"; }

struct tool_result {
  int status;
  std::string output;
};

// Runs the tool with `args` (two OpenMP threads), stdout and stderr together; skips the whole program (exit 77,
// which ctest reports as skipped) when the tool was not built.
inline tool_result run_vae(const std::string& args) {
  if (!std::filesystem::exists(vae_tool())) {
    std::printf("SKIPPED: %s was not built (configure with VAE_BUILD_TOOLS=ON)\n", vae_tool().c_str());
    std::exit(77);
  }
  const std::string cmd = "OMP_NUM_THREADS=2 " + vae_tool().string() + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int rc = ::pclose(p);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

// The last line of a tool's output that is a JSON object (eval and train print their result last).
inline nlohmann::json last_json(const std::string& out) {
  std::istringstream in(out);
  nlohmann::json last;
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line.front() == '{') last = nlohmann::json::parse(line);
  return last;
}

// DIR/metrics.jsonl, one JSON object per epoch.
inline std::vector<nlohmann::json> read_metrics(const std::filesystem::path& dir) {
  std::ifstream in(dir / "metrics.jsonl");
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace vae::test::e2e
