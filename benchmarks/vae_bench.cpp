// vae_bench: training and evaluation throughput of the reference architectures (../shared/reference/), one JSON line.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <vector>

#include "cli/presets.hpp"
#include "vae/data/dataset.hpp"
#include "vae/train/adam.hpp"

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const auto m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

// FLOPs per training sample, counted as the reference scripts count them (forward 2·MAC, backward 4·MAC, no dx
// for the first layer), so step_gflops compares like for like.
double train_flop_per_sample(const std::string& model) {
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vae_bench: train/eval throughput of the reference architectures on Fashion-MNIST"};
  std::string model = "mlp-vae", device = "cpu";
  double seconds = 20;
  int threads = 2;
  std::int64_t batch = 128;
  app.add_option("--model", model, "mlp-vae | conv-vae | vq-vae");
  app.add_option("--seconds", seconds, "timed training seconds after the warm-up window (default 20)");
  app.add_option("--threads", threads, "OpenMP threads (default 2)");
  app.add_option("--batch", batch, "batch size (default 128)");
  int eval_reps = 3;
  app.add_option("--eval-reps", eval_reps, "timed evaluation passes over the test set (default 3; median reported)")
      ->check(CLI::PositiveNumber);
  app.add_option("--device", device, "cpu (cuda: see issue #6; not built into this tool yet)");
  CLI11_PARSE(app, argc, argv);
  try {
    vae::check(device == "cpu", [&] { return vae::cat("vae_bench: device '", device, "' is not available in this build"); });
    omp_set_num_threads(threads);
    vae::cli::run_config c;
    c.model = model;
    c.batch = batch;
    c.quantizer = "vq";  // the reference quantizer: plain VQ, no k-means, no restarts
    c.kmeans_init = false;
    c.dead_code_restart = false;
    vae::data::load_options o;
    auto data = vae::data::load_dataset("fashion-mnist", o);
    if (vae::cli::binarizes(c)) {
      data.train_images = vae::data::binarize(data.train_images, 0.5f);
      data.test_images = vae::data::binarize(data.test_images, 0.5f);
    }
    const auto& tr = data.train_images;
    vae::generator init(0), rng(1);
    auto m = vae::cli::make_runner(c, {tr.dim(1), tr.dim(2), tr.dim(3)}, init);
    vae::Adam<float> opt({.lr = c.lr});
    const std::int64_t window = model == "mlp-vae" ? 50 : model == "conv-vae" ? 20 : 10;
    vae::data::batch_sampler sampler(tr.dim(0), batch, 2, /*drop_last=*/true);
    std::vector<std::int64_t> idx;
    vae::tensor<float> x;
    std::vector<double> rates;
    m->set_training(true);
    m->store().zero_grad();
    const double start = now();
    std::int64_t step = 0, windows = 0;
    double t0 = now();
    while (true) {
      if (!sampler.next(idx)) {
        sampler.new_epoch();
        continue;
      }
      vae::data::gather(tr, idx, x);
      m->train_step(x, rng, step++);
      opt.step_and_zero_grad(m->store());  // the gradients were zeroed before the loop, then by each step
      if (step % window == 0) {
        const double t = now();
        if (windows++ > 0) rates.push_back(static_cast<double>(window * batch) / (t - t0));  // first = warm-up
        t0 = t;
        if (t - start > seconds && rates.size() >= 3) break;
      }
    }
    // Evaluation: full passes over the test set in batches, median of --eval-reps after one warm-up pass.
    m->set_training(false);
    const auto& te = data.test_images;
    auto one_pass = [&] {
      for (std::int64_t i = 0; i + batch <= te.dim(0); i += batch) {
        vae::cli::detail::slice_rows(te, i, i + batch, x);
        m->eval_batch(x, rng);
      }
    };
    one_pass();
    std::vector<double> eval_rates;
    for (int r = 0; r < eval_reps; ++r) {
      const double e0 = now();
      one_pass();
      eval_rates.push_back(static_cast<double>((te.dim(0) / batch) * batch) / (now() - e0));
    }
    const double train_sps = median(rates);
    nlohmann::json j = {{"model", model},
                        {"train_samples_per_s", train_sps},
                        {"eval_samples_per_s", median(eval_rates)},
                        {"threads", threads},
                        {"batch", batch},
                        {"step_gflops", train_flop_per_sample(model) * train_sps / 1e9},
                        {"timed_windows", rates.size()},
                        {"window_steps", window},
                        {"device", device}};
    std::cout << j.dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "vae_bench: error: " << e.what() << "\n";
    return 1;
  }
}
