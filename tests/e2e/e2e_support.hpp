// Helpers of the end-to-end tests that drive the `vae` tool: run it, read a run's metrics.
#pragma once
#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace e2e_support {

inline const std::filesystem::path tool = std::filesystem::path(VAE_BINARY_DIR) / "tools" / "vae";

struct result {
  int status;
  std::string output;
};

// Runs the tool with `args` on 2 OpenMP threads, capturing stdout and stderr together.
inline result run(const std::string& args) {
  const std::string cmd = "OMP_NUM_THREADS=2 " + tool.string() + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int rc = ::pclose(p);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

// DIR/metrics.jsonl, one JSON object per epoch.
inline std::vector<nlohmann::json> read_metrics(const std::filesystem::path& dir) {
  std::ifstream in(dir / "metrics.jsonl");
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace e2e_support
