// vae::error and vae::check: always-on checks (functions, not macros) that throw with an actionable message and file:line.
#pragma once
#include <source_location>
#include <sstream>
#include <stdexcept>
#include <string>

namespace vae {

class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
[[noreturn]] inline void throw_error(const std::string& message,
                                     const std::source_location where = std::source_location::current()) {
  std::ostringstream out;
  out << message << " [" << where.file_name() << ":" << where.line() << "]";
  throw error(out.str());
}
}  // namespace detail

// Throws vae::error(message + location) when `condition` is false. A function rather than a macro so it
// obeys scope; the message is built only on failure when passed as a lambda.
inline void check(bool condition, const std::string& message,
                  const std::source_location where = std::source_location::current()) {
  if (!condition) detail::throw_error(message, where);
}

template <class MessageFn>
  requires std::is_invocable_r_v<std::string, MessageFn>
inline void check(bool condition, MessageFn&& message,
                  const std::source_location where = std::source_location::current()) {
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
