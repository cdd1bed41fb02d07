// vae_bench's options, clock, median, FLOP counts and the JSON result line.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace vae_bench {

struct options {
  std::string model = "mlp-vae";
  double seconds = 20;
  int threads = 2;
  std::int64_t batch = 128;
  int eval_reps = 3;
  std::int64_t eval_n = 0;  // test images per evaluation pass (0: the whole test set)
};

// Throughputs in samples per second (medians over timed windows / evaluation passes).
struct result {
  double train_samples_per_s = 0, eval_samples_per_s = 0;
  std::int64_t timed_windows = 0, window_steps = 0;
};

inline double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const auto m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

// Steps per timed window: about a second of work per window on the 2-core cpu (vqgan: a few seconds a step).
inline std::int64_t window_steps(const std::string& model) {
  return model == "mlp-vae" ? 50 : model == "conv-vae" ? 20 : model == "vqgan" ? 2 : 10;
}

// FLOPs per training sample, counted as the reference scripts count them (forward 2·MAC, backward 4·MAC, no dx
// for the first layer), so step_gflops compares like for like.
inline double train_flop_per_sample(const std::string& model) {
  auto sum = [](std::initializer_list<double> v) {
    double s = 0;
    for (double x : v) s += x;
    return s;
  };
  if (model == "mlp-vae") {
    const double first = 784.0 * 512;
    const double macs = sum({first, 512.0 * 256, 256.0 * 64, 32.0 * 256, 256.0 * 512, 512.0 * 784});
    return 6 * macs - 2 * first;
  }
  if (model == "conv-vae") {
    const double first = 14.0 * 14 * 32 * 16;
    const double macs = sum({first, 7.0 * 7 * 64 * 32 * 16, 3136.0 * 64, 32.0 * 3136, 7.0 * 7 * 64 * 32 * 16, first});
    return 6 * macs - 2 * first;
  }
  if (model == "vq-vae") {
    const double H = 128, RH = 32, D = 64, K = 512;
    const double first = 14.0 * 14 * 64 * 16;
    double macs = first + 49 * H * 64 * 16;
    for (int i = 0; i < 4; ++i) macs += 49 * RH * H * 9 + 49 * H * RH;
    macs += 49 * D * H + 49 * H * D + 49 * H * 64 * 16 + first;
    return 6 * macs - 2 * first + 2 * 49 * K * D;
  }
  return 0;
}

}  // namespace vae_bench
