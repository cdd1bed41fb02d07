// progress_display: bar mode redraws one line in place (throttled); plain mode prints one line per epoch and nothing else.
#include "vae/train/progress.hpp"

#include <sstream>

#include <doctest/doctest.h>

using namespace vae;

TEST_CASE("progress_display without a TTY prints exactly one line per epoch") {
  std::ostringstream out;
  double now = 100.0;
  progress_display p(out, false, [&] { return now; });
  p.start_epoch(1, 3, 4);
  for (int i = 0; i < 4; ++i) {
    now += 0.5;
    p.advance(1.0 / (i + 1), 32);
  }
  CHECK(out.str().empty());  // no carriage-return spam in logs
  p.end_epoch(0.123456);
  CHECK(out.str() == "epoch 1/3: 4 steps, loss 0.1235, 64 samples/s, 0:02\n");
  p.start_epoch(2, 3, 4);
  for (int i = 0; i < 4; ++i) {
    now += 20;
    p.advance(0.1, 32);
  }
  p.end_epoch(0.1, ", val 0.0900");
  CHECK(out.str() == "epoch 1/3: 4 steps, loss 0.1235, 64 samples/s, 0:02\n"
                     "epoch 2/3: 4 steps, loss 0.1, 2 samples/s, 1:20, val 0.0900\n");
  CHECK_FALSE(p.tty());
}

TEST_CASE("progress_display on a TTY redraws a single bar line with loss, samples/s and the run's ETA") {
  std::ostringstream out;
  double now = 0.0;
  progress_display p(out, true, [&] { return now; }, 0.1);
  p.start_epoch(1, 2, 10);
  now = 1.0;
  p.advance(0.5, 40);
  // 1 s per step: 9 steps left in this epoch + 10 in the next = 19 s.
  CHECK(out.str() == "\repoch 1/2 [##------------------] 1/10 loss 0.5 | 40 samples/s | ETA 0:19\x1b[K");
  out.str("");
  p.advance(0.4, 40);  // same instant: throttled, nothing drawn
  CHECK(out.str().empty());
  now = 3.0;
  for (int i = 0; i < 7; ++i) p.advance(0.25, 40);  // steps 3..9 at t = 3 s: step 3 drawn, the rest throttled
  CHECK(out.str() == "\repoch 1/2 [######--------------] 3/10 loss 0.25 | 40 samples/s | ETA 0:17\x1b[K");
  out.str("");
  now = 10.0;
  p.advance(0.2, 40);  // the last step of the epoch is always drawn
  CHECK(out.str() == "\repoch 1/2 [####################] 10/10 loss 0.2 | 40 samples/s | ETA 0:10\x1b[K");
  out.str("");
  p.end_epoch(0.3);
  CHECK(out.str() == "\repoch 1/2: 10 steps, loss 0.3, 40 samples/s, 0:10\x1b[K\n");
  out.str("");
  p.note("saved checkpoint");
  CHECK(out.str() == "\r\x1b[Ksaved checkpoint\n");
}

TEST_CASE("progress_display helpers and errors") {
  CHECK(detail::format_duration(3725) == "1:02:05");
  CHECK(detail::format_duration(59.6) == "1:00");
  CHECK(detail::format_duration(-1) == "?");
  std::ostringstream out;
  progress_display p(out, false);
  CHECK_THROWS_WITH_AS(p.start_epoch(3, 2, 10), doctest::Contains("expected 1 <= epoch <= epochs"), vae::error);
  (void)progress_display::stderr_is_tty();  // callable; its value depends on how the test is run
}
