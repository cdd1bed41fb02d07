// vae::error and vae::check: always-on checks (functions, not macros) that throw with an actionable message and file:line.
#pragma once
#include <version>
#if defined(__cpp_lib_source_location)
#include <source_location>
#endif
#include <sstream>
#include <stdexcept>
#include <string>

namespace vae {

#if defined(__cpp_lib_source_location)
using source_location = std::source_location;
#else
// libstdc++'s std::source_location needs __builtin_source_location, which clang < 15 lacks (Debian 12's default
// clang is 14, used for the fuzz targets): the two fields vae reports, from builtins every compiler has.
struct source_location {
  static constexpr source_location current(const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) noexcept {
    source_location s;
    s.file_ = file;
    s.line_ = line;
    return s;
  }
  constexpr const char* file_name() const noexcept { return file_; }
  constexpr unsigned line() const noexcept { return line_; }

 private:
  const char* file_ = "";
  unsigned line_ = 0;
};
#endif

// what() is "message [file:line]"; message() is the sentence alone, for programs that show errors to users
// (the vae CLI prints the location only with --verbose or in debug builds).
class error : public std::runtime_error {
 public:
  explicit error(const std::string& what) : std::runtime_error(what), message_(what) {}
  error(const std::string& message, const std::string& location)
      : std::runtime_error(location.empty() ? message : message + " [" + location + "]"), message_(message) {}
  const std::string& message() const noexcept { return message_; }

 private:
  std::string message_;
};

namespace detail {
[[noreturn]] inline void throw_error(const std::string& message,
                                     const source_location where = source_location::current()) {
  std::ostringstream location;
  location << where.file_name() << ":" << where.line();
  throw error(message, location.str());
}
}  // namespace detail

// Throws vae::error(message + location) when `condition` is false. A function rather than a macro so it
// obeys scope; the message is built only on failure when passed as a lambda.
inline void check(bool condition, const std::string& message,
                  const source_location where = source_location::current()) {
  if (!condition) detail::throw_error(message, where);
}

template <class MessageFn>
  requires std::is_invocable_r_v<std::string, MessageFn>
inline void check(bool condition, MessageFn&& message,
                  const source_location where = source_location::current()) {
  if (!condition) detail::throw_error(message(), where);
}

// Concatenates streamable arguments into a message: vae::cat("expected ", a, " got ", b).
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

}  // namespace vae
