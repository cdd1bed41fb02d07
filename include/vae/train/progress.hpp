// Training progress display: on a terminal one bar line redrawn in place; otherwise one plain line per epoch.
#pragma once
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iostream>
#include <limits>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include "vae/core/error.hpp"

namespace vae {

namespace detail {
// "0:07", "12:34", "1:02:03" (negative or non-finite as "?").
inline std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<std::int64_t>(std::llround(seconds));
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                               static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  else std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  return buf;
}
inline std::string format_number(const char* fmt, double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}
inline double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace detail

// Usage: progress_display p = progress_display::to_stderr(); per epoch p.start_epoch(e, epochs, steps); per step
// p.advance(loss, batch_size); then p.end_epoch(mean_loss). On a TTY the bar line
//   "\repoch 2/10 [######--------------] 30/100 loss 0.1234 | 5120 samples/s | ETA 1:02\x1b[K"
// is redrawn at most every `redraw_interval` seconds (and at the last step); end_epoch replaces it with the
// epoch summary and a newline. Not on a TTY (a log file, CI), advance prints nothing and end_epoch prints
//   "epoch 2/10: 100 steps, loss 0.1234, 5120 samples/s, 0:20"
// The clock is injectable so tests can check the text.
class progress_display {
 public:
  using clock_fn = std::function<double()>;  // monotonic seconds

  progress_display(std::ostream& out, bool tty, clock_fn clock = detail::steady_seconds, double redraw_interval = 0.1)
      : out_(&out), tty_(tty), clock_(std::move(clock)), redraw_interval_(redraw_interval) {}

  // progress_display on std::cerr, in bar mode when stderr is a terminal.
  static progress_display to_stderr() { return progress_display(std::cerr, stderr_is_tty()); }
  static bool stderr_is_tty() { return ::isatty(::fileno(stderr)) != 0; }

  // Starts epoch `epoch` (1-based) of `epochs`, expected to take `steps` steps.
  void start_epoch(std::int64_t epoch, std::int64_t epochs, std::int64_t steps) {
    check(epoch >= 1 && epochs >= epoch && steps >= 0, [&] {
      return cat("progress_display::start_epoch: expected 1 <= epoch <= epochs and steps >= 0, got epoch ", epoch, " of ",
                 epochs, ", ", steps, " steps");
    });
    epoch_ = epoch;
    epochs_ = epochs;
    steps_ = steps;
    step_ = 0;
    samples_ = 0;
    loss_ = 0;
    start_ = clock_();
    last_draw_ = -1e300;
  }

  // One step done: `loss` of this step (or a running mean), `samples` in its batch.
  void advance(double loss, std::int64_t samples) {
    ++step_;
    samples_ += samples;
    loss_ = loss;
    if (!tty_) return;
    const double now = clock_();
    if (now - last_draw_ < redraw_interval_ && step_ < steps_) return;
    last_draw_ = now;
    *out_ << '\r' << bar_line(now - start_) << "\x1b[K" << std::flush;
  }

  // Ends the epoch with its summary line; `loss` is the epoch's figure (e.g. the mean), `extra` is appended
  // (", val 0.1170").
  void end_epoch(double loss, std::string_view extra = {}) {
    loss_ = loss;
    const double elapsed = clock_() - start_;
    if (tty_) *out_ << '\r';
    *out_ << "epoch " << epoch_ << '/' << epochs_ << ": " << step_ << " steps, loss "
          << detail::format_number("%.4g", loss_) << ", " << rate(elapsed) << " samples/s, "
          << detail::format_duration(elapsed) << extra;
    if (tty_) *out_ << "\x1b[K";
    *out_ << '\n' << std::flush;
  }

  // Prints a line of text without corrupting the bar (on a TTY the bar is redrawn at the next advance).
  void note(std::string_view text) {
    if (tty_) *out_ << "\r\x1b[K";
    *out_ << text << '\n' << std::flush;
    last_draw_ = -1e300;
  }

  bool tty() const { return tty_; }

 private:
  std::string rate(double elapsed) const {
    return elapsed > 0 ? detail::format_number("%.0f", static_cast<double>(samples_) / elapsed) : "?";
  }

  std::string bar_line(double elapsed) const {
    constexpr int width = 20;
    const double frac = steps_ > 0 ? std::min(1.0, static_cast<double>(step_) / static_cast<double>(steps_)) : 1.0;
    const int filled = static_cast<int>(frac * width);
    // The rest of the run, at this epoch's seconds per step: what is left of this epoch and of the later ones.
    const double per_step = step_ > 0 ? elapsed / static_cast<double>(step_) : std::numeric_limits<double>::quiet_NaN();
    const double left = static_cast<double>(std::max<std::int64_t>(steps_ - step_, 0) + (epochs_ - epoch_) * steps_);
    std::ostringstream line;
    line << "epoch " << epoch_ << '/' << epochs_ << " [" << std::string(filled, '#')
         << std::string(width - filled, '-') << "] " << step_ << '/' << steps_ << " loss "
         << detail::format_number("%.4g", loss_) << " | " << rate(elapsed) << " samples/s | ETA "
         << detail::format_duration(per_step * left);
    return line.str();
  }

  std::ostream* out_;
  bool tty_;
  clock_fn clock_;
  double redraw_interval_;
  std::int64_t epoch_ = 0, epochs_ = 0, steps_ = 0, step_ = 0, samples_ = 0;
  double loss_ = 0, start_ = 0, last_draw_ = -1e300;
};

}  // namespace vae
