// temp_folder: a test process's own folder under the system's temp folder, removed with its contents at the end.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace vae::test {

// prefix + the process id under temp_directory_path(), created when constructed and removed, with everything in it,
// when destroyed. A function-local static one serves a whole test binary and is gone when the process exits.
class temp_folder {
 public:
  explicit temp_folder(const std::string& prefix)
      : path_(std::filesystem::temp_directory_path() / (prefix + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path_);
  }
  ~temp_folder() {
    std::error_code ignored;  // a destructor at exit has no one to report to; what is left is only clutter
    std::filesystem::remove_all(path_, ignored);
  }
  temp_folder(const temp_folder&) = delete;
  temp_folder& operator=(const temp_folder&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace vae::test
