// vae_bench: training and evaluation throughput of the reference architectures (../shared/reference/), one JSON line;
// the GPT prior's training and KV-cache sampling (transformer_prior.py) with --model gpt-prior | kv-sample.
// The models are the CLI's presets, built by the preset registry's builders (tools/cli/preset_registry.hpp) on cpu or,
// with --device cuda, on the GPU (tools/cli/device_runner.cu): the same model the CLI trains, on either device.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <vector>

#include "bench_common.hpp"
#include "gpt_prior_bench.hpp"
#include "cli/device_runner.hpp"
#include "cli/preset_registry.hpp"
#include "cli/presets.hpp"
#include "vae/data/dataset.hpp"
#include "vae/train/adam.hpp"

namespace {

// The presets vae_bench times: the image models the reference scripts define.
constexpr std::initializer_list<vae::cli::preset_kind> timed_kinds = {vae::cli::preset_kind::vae,
                                                                      vae::cli::preset_kind::vq,
                                                                      vae::cli::preset_kind::vqgan};

// The CLI's preset (the exact reference architecture) on `device`: the OpenMP pool, or the GPU (parameters, gradients
// and Adam's state on the device; each step uploads its batch, gathered on the host as PyTorch's reference indexes a
// CPU tensor, and reads the loss back, so a step is complete when it returns).
vae_bench::result run_preset(const vae_bench::options& opt_in, const std::string& device) {
  using vae_bench::median;
  using vae_bench::now;
  const auto& o = opt_in;
  omp_set_num_threads(o.threads);
  const auto& preset = vae::cli::preset_named(o.model);
  vae::check(std::ranges::find(timed_kinds, preset.kind) != timed_kinds.end(), [&] {
    return vae::cat("--model ", o.model, " is not timed here: choose ", vae::cli::preset_choices(timed_kinds),
                    " | gpt-prior | kv-sample");
  });
  vae::cli::run_config c;
  c.model = o.model;
  c.batch = o.batch;
  c.quantizer = "vq";  // the reference quantizer: plain VQ, no k-means, no restarts
  c.kmeans_init = false;
  c.dead_code_restart = false;
  c.lr = vae::cli::parse_default(preset, "--lr", c.lr);  // vqgan.py's 2e-4 (the step's cost does not depend on it)
  c.device = device;
  vae::data::load_options lo;
  auto data = vae::data::load_dataset("fashion-mnist", lo);
  if (vae::cli::binarizes(c)) {
    data.train_images = vae::data::binarize(data.train_images, 0.5f);
    data.test_images = vae::data::binarize(data.test_images, 0.5f);
  }
  const auto& tr = data.train_images;
  vae::generator init(0), rng(1);
  const vae::cli::image_shape shape{tr.dim(1), tr.dim(2), tr.dim(3)};
  std::unique_ptr<vae::cli::runner> m;
  if (device == "cpu") {
    m = vae::cli::make_runner(c, shape, init);
  } else {
#if defined(VAE_BENCH_WITH_CUDA)
    m = vae::cli::make_device_runner(c, shape, init);
#else
    vae::detail::throw_error(
        "vae_bench: this build has no CUDA path (configure with -DVAE_WITH_CUDA=ON where nvcc is installed)");
#endif
  }
  m->set_optimizer({.lr = c.lr});  // vqgan's runner steps its two optimizers inside train_step
  vae_bench::result r;
  r.window_steps = vae_bench::window_steps(o.model);
  vae::data::batch_sampler sampler(tr.dim(0), o.batch, 2, /*drop_last=*/true);
  std::vector<std::int64_t> idx;
  vae::tensor<float> x;
  std::vector<double> rates;
  m->set_training(true);
  m->zero_grad();
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
    m->optimizer_step();  // the gradients were zeroed before the loop, then by each step
    if (step % r.window_steps == 0) {
      const double t = now();
      if (windows++ > 0) rates.push_back(static_cast<double>(r.window_steps * o.batch) / (t - t0));  // first = warm-up
      t0 = t;
      if (t - start > o.seconds && rates.size() >= 3) break;
    }
  }
  r.train_samples_per_s = median(rates);
  r.timed_windows = static_cast<std::int64_t>(rates.size());
  // Evaluation: full passes over the test set in batches, median of --eval-reps after one warm-up pass.
  m->set_training(false);
  const auto& te = data.test_images;
  const std::int64_t eval_n = o.eval_n > 0 ? std::min(o.eval_n, te.dim(0)) : te.dim(0);
  auto one_pass = [&] {
    for (std::int64_t i = 0; i + o.batch <= eval_n; i += o.batch) {
      vae::cli::detail::slice_rows(te, i, i + o.batch, x);
      m->eval_batch(x, rng);
    }
  };
  one_pass();
  std::vector<double> eval_rates;
  for (int rep = 0; rep < o.eval_reps; ++rep) {
    const double e0 = now();
    one_pass();
    eval_rates.push_back(static_cast<double>((eval_n / o.batch) * o.batch) / (now() - e0));
  }
  r.eval_samples_per_s = median(eval_rates);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vae_bench: train/eval throughput of the reference architectures on Fashion-MNIST"};
  vae_bench::options o;
  std::string device = "cpu";
  app.add_option("--model", o.model,
                 vae::cli::preset_choices(timed_kinds) +
                     " (the CLI's presets; vqgan.py's batch is 64) | gpt-prior (training tokens/s, batch 128) | "
                     "kv-sample (1024 tokens with the KV cache against recomputing the prefix; --batch 1 or 16)");
  int reps = 3;
  bool cache_only = false;
  app.add_option("--reps", reps, "gpt-prior: timed windows of 3 steps (default 3); kv-sample: timed samples (default 3)")
      ->check(CLI::PositiveNumber);
  app.add_flag("--cache-only", cache_only, "kv-sample: the KV cache only, not the uncached estimate");
  app.add_option("--seconds", o.seconds, "timed training seconds after the warm-up window (default 20)");
  app.add_option("--threads", o.threads, "OpenMP threads (default 2; cpu)");
  app.add_option("--batch", o.batch, "batch size (default 128)");
  app.add_option("--eval-reps", o.eval_reps, "timed evaluation passes over the test set (default 3; median reported)")
      ->check(CLI::PositiveNumber);
  app.add_option("--eval-n", o.eval_n, "test images per evaluation pass (default: all; vqgan.py times 1024)");
  app.add_option("--device", device, "cpu | cuda (cuda: in builds with VAE_WITH_CUDA)");
  CLI11_PARSE(app, argc, argv);
  try {
    vae::check(device == "cpu" || device == "cuda",
               [&] { return vae::cat("vae_bench: --device is cpu or cuda, got '", device, "'"); });
    if (o.model == "gpt-prior" || o.model == "kv-sample") {
      vae::check(device == "cpu", "vae_bench: gpt-prior and kv-sample run on the cpu only (GPTPrior is host-only)");
      omp_set_num_threads(o.threads);
      const auto j = o.model == "gpt-prior" ? vae_bench::gpt::train(o.batch, 3 * reps)
                                            : vae_bench::gpt::sample(app.count("--batch") ? o.batch : 1, reps, cache_only);
      std::cout << j.dump() << std::endl;
      return 0;
    }
    const vae_bench::result r = run_preset(o, device);
    nlohmann::json j = {{"model", o.model},
                        {"train_samples_per_s", r.train_samples_per_s},
                        {"eval_samples_per_s", r.eval_samples_per_s},
                        {"threads", device == "cpu" ? o.threads : 0},
                        {"batch", o.batch},
                        {"step_gflops", vae_bench::train_flop_per_sample(o.model) * r.train_samples_per_s / 1e9},
                        {"timed_windows", r.timed_windows},
                        {"window_steps", r.window_steps},
                        {"device", device}};
    std::cout << j.dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "vae_bench: error: " << e.what() << "\n";
    return 1;
  }
}
