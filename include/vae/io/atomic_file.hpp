// Atomic file replacement: write to a temporary beside the target, fsync, rename over it, fsync the folder.
#pragma once
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "vae/core/error.hpp"

namespace vae::io {

namespace detail {
inline void write_all(int fd, const void* data, std::size_t n, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    check(w > 0, [&] { return cat("write to '", path, "' failed: ", std::strerror(errno)); });
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}
}  // namespace detail

// Sink handed to the writer callback: append bytes to the temporary file.
class file_sink {
 public:
  file_sink(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  void write(const void* data, std::size_t n) { detail::write_all(fd_, data, n, path_); }
  void write(std::string_view s) { write(s.data(), s.size()); }

 private:
  int fd_;
  std::string path_;
};

// Calls fill(sink) to produce the file's content, then atomically replaces `path` with it. If fill throws
// or any step fails, the old file at `path` is untouched and the temporary is removed.
inline void write_file_atomically(const std::filesystem::path& path, const std::function<void(file_sink&)>& fill) {
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::string name = ".";  // built in steps: g++ 12 warns (-Wrestrict, falsely) on "." + string
  name += path.filename().string();
  name += ".tmp-XXXXXX";
  std::string tmpl = (dir / name).string();
  const int fd = ::mkstemp(tmpl.data());
  check(fd >= 0, [&] { return cat("cannot create a temporary file in '", dir.string(), "': ", std::strerror(errno)); });
  // mkstemp creates the file 0600; give it the mode a plain create would (0666 less the umask).
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd, 0666 & ~mask);
  try {
    file_sink sink(fd, tmpl);
    fill(sink);
    check(::fsync(fd) == 0, [&] { return cat("fsync of '", tmpl, "' failed: ", std::strerror(errno)); });
    check(::close(fd) == 0, [&] { return cat("close of '", tmpl, "' failed: ", std::strerror(errno)); });
  } catch (...) {
    ::close(fd);
    ::unlink(tmpl.c_str());
    throw;
  }
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmpl.c_str());
    vae::detail::throw_error(cat("cannot rename '", tmpl, "' to '", path.string(), "': ", why));
  }
  // Make the rename itself durable.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

inline void write_text_atomically(const std::filesystem::path& path, std::string_view text) {
  write_file_atomically(path, [&](file_sink& s) { s.write(text); });
}

}  // namespace vae::io
