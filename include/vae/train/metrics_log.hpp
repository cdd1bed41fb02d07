// Metrics log: one JSON object per line appended to DIR/metrics.jsonl, flushed per line (readable while training runs).
#pragma once
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include <nlohmann/json.hpp>

#include "vae/core/error.hpp"

namespace vae {

class metrics_log {
 public:
  // Creates `dir` if needed and opens DIR/metrics.jsonl for appending (a resumed run continues the file).
  explicit metrics_log(const std::filesystem::path& dir) : path_(dir / "metrics.jsonl") {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    check(!ec, [&] { return cat("metrics_log: cannot create directory '", dir.string(), "': ", ec.message()); });
    out_.open(path_, std::ios::out | std::ios::app);
    check(out_.is_open(),
          [&] { return cat("metrics_log: cannot open '", path_.string(), "' for appending: ", std::strerror(errno)); });
  }

  // Appends `record` (an object, e.g. {"step": 100, "loss": 0.5}) as one line and flushes it.
  // Non-finite numbers are written as null (JSON has no NaN).
  void write(const nlohmann::json& record) {
    check(record.is_object(), [&] { return cat("metrics_log::write: expected a JSON object, got ", record.type_name()); });
    out_ << record.dump() << '\n';
    out_.flush();
    check(out_.good(), [&] { return cat("metrics_log: writing '", path_.string(), "' failed"); });
  }

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::ofstream out_;
};

}  // namespace vae
