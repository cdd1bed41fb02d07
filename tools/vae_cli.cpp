// vae: the command-line tool — train, evaluate, sample, reconstruct, encode and decode latent generative models.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli/caption_report.hpp"
#include "cli/device_runner.hpp"
#include "cli/distributed.hpp"
#include "cli/preset_registry.hpp"
#include "cli/presets.hpp"
#include "cli/run_config.hpp"
#include "cli/runner.hpp"
#include "cli/sample_quality.hpp"
#include "cli/text2img_runner.hpp"
#include "cli/value_domain.hpp"
#include "vae/data/dataset.hpp"
#include "vae/io/npy.hpp"
#include "vae/metrics/caption_accuracy.hpp"
#include "vae/io/png.hpp"
#include "vae/train/lr_schedule.hpp"
#include "vae/train/metrics_log.hpp"
#include "vae/train/progress.hpp"
#include "vae/train/run_report.hpp"

namespace fs = std::filesystem;
using vae::cat;
using vae::check;

namespace {

constexpr const char* model_file = "model.safetensors";
constexpr const char* optimizer_file = "optimizer.safetensors";
constexpr const char* config_file = "config.json";

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

vae::data::dataset load_data(const vae::cli::run_config& c) {
  vae::data::load_options o;
  o.image_size = static_cast<int>(c.image_size);
  o.channels = static_cast<int>(c.channels);
  o.seed = c.seed;
  o.values = vae::cli::value_domain_of(c);  // refused before training: NaN, values outside the likelihood's domain
  o.values_for = vae::cli::value_domain_reason(c);
  auto d = vae::data::load_dataset(c.data, o);
  if (vae::cli::binarizes(c)) {
    d.train_images = vae::data::binarize(d.train_images, 0.5f);
    d.test_images = vae::data::binarize(d.test_images, 0.5f);
  }
  return d;
}

vae::cli::image_shape shape_of(const vae::data::dataset& d) {
  const auto& t = d.train_images;
  return {t.dim(1), t.dim(2), t.dim(3)};
}

void set_threads(std::int64_t threads) {
  if (threads > 0) omp_set_num_threads(static_cast<int>(threads));
}

void check_device(const std::string& device) {
  check(device == "cpu" || device == "cuda",
        [&] { return cat("--device must be cpu or cuda, got '", device, "'"); });
}

// The model of config `c` on `device`. cuda: the runner of tools/cli/device_runner.cu, compiled in when the build has
// the CUDA backend; it probes the GPU first and throws (naming CUDA's error) when there is none.
std::unique_ptr<vae::cli::runner> make_model(const vae::cli::run_config& c, vae::cli::image_shape s,
                                             vae::generator& init, const std::string& device) {
  check_device(device);
  if (device == "cpu") return vae::cli::make_runner(c, s, init);
#if defined(VAE_CLI_WITH_CUDA)
  return vae::cli::make_device_runner(c, s, init);
#else
  vae::detail::throw_error("--device cuda: this build has no CUDA backend (configure with -DVAE_WITH_CUDA=ON, needs nvcc)");
#endif
}

// "cuda: NVIDIA H100 ... (device 0 of 1, ...)" or "cpu"; throws as make_model when the device cannot be used.
std::string describe_device(const std::string& device) {
  check_device(device);
  if (device == "cpu") return device;
#if defined(VAE_CLI_WITH_CUDA)
  return cat("cuda: ", vae::cli::cuda_device_description());
#else
  vae::detail::throw_error("--device cuda: this build has no CUDA backend (configure with -DVAE_WITH_CUDA=ON, needs nvcc)");
#endif
}

struct loaded_run {
  vae::cli::run_config config;
  vae::data::dataset data;
  std::unique_ptr<vae::cli::runner> model;
};

// Rebuilds a trained run from DIR: its config, its data and its weights, on `device` (whichever device trained it:
// the checkpoint is the same host file).
loaded_run open_run(const fs::path& dir, const std::string& device) {
  check(fs::exists(dir / config_file) && fs::exists(dir / model_file), [&] {
    return cat("'", dir.string(), "' is not a training run: it needs ", config_file, " and ", model_file,
               " (written by `vae train --out DIR`)");
  });
  loaded_run r;
  r.config = vae::cli::run_config::load(dir / config_file);
  set_threads(r.config.threads);
  r.data = load_data(r.config);
  vae::generator init(r.config.seed);
  r.model = make_model(r.config, shape_of(r.data), init, device);
  r.model->load_parameters(dir / model_file);
  r.model->set_training(false);
  return r;
}

// First `n` test images, [n, C, H, W].
vae::tensor<float> first_test_images(const vae::data::dataset& d, std::int64_t n) {
  vae::tensor<float> x;
  vae::cli::detail::slice_rows(d.test_images, 0, std::min(n, d.test_images.dim(0)), x);
  return x;
}

// Originals interleaved with their reconstructions: rows of 8 originals over 8 reconstructions.
void write_reconstructions(vae::cli::runner& m, const vae::data::dataset& d, const fs::path& file, std::int64_t n) {
  auto x = first_test_images(d, n);
  const auto originals = x;
  vae::tensor<float> rec;
  m.reconstruct(x, rec);
  const std::int64_t per = originals.numel() / originals.dim(0);
  vae::shape s = originals.shape();
  s[0] = 2 * originals.dim(0);
  vae::tensor<float> grid(s);
  const std::int64_t rows = (originals.dim(0) + 7) / 8;
  std::int64_t out = 0;
  for (std::int64_t r = 0; r < rows; ++r)
    for (const vae::tensor<float>* src : {&originals, static_cast<const vae::tensor<float>*>(&rec)})
      for (std::int64_t i = r * 8; i < std::min(originals.dim(0), r * 8 + 8); ++i)
        std::copy(src->data() + i * per, src->data() + (i + 1) * per, grid.data() + (out++) * per);
  vae::io::write_png_grid(file.string(), grid, 8);
}

// Caption accuracy of the reconstructions of shapes test images (the first `limit`, 0: all): whether a tokenizer
// keeps every colour, shape, size and relation the captions state.
// With a `failures` list, the reconstructions whose caption is not read back go into it beside their originals.
nlohmann::json reconstruction_caption_accuracy(vae::cli::runner& m, const vae::data::dataset& d, std::int64_t limit,
                                               vae::cli::caption_failures* failures) {
  const std::int64_t n = limit > 0 ? std::min(limit, d.test_images.dim(0)) : d.test_images.dim(0);
  vae::metrics::caption_accuracy acc;
  vae::tensor<float> x, rec;
  const std::int64_t batch = vae::cli::eval_request::batch_for(shape_of(d));
  for (std::int64_t b = 0; b < n; b += batch) {
    vae::cli::detail::slice_rows(d.test_images, b, std::min(n, b + batch), x);
    m.reconstruct(x, rec);
    for (std::int64_t i = 0; i < rec.dim(0); ++i) {
      const auto& caption = d.test_captions[static_cast<std::size_t>(b + i)];
      const auto got = vae::metrics::parse_shapes_image(rec, i);
      const auto score = vae::metrics::score_caption(vae::data::parse_caption(caption), got);
      acc.add(score);
      if (failures != nullptr) failures->add(b + i, caption, score, got, rec, i, &x);
    }
  }
  return vae::cli::caption_report(acc, "reconstructed test images");
}

void write_pictures(vae::cli::runner& m, const vae::data::dataset& d, const fs::path& dir, std::uint64_t seed) {
  m.set_training(false);
  if (!m.reconstructs()) return;
  write_reconstructions(m, d, dir / "reconstructions.png", 32);
  if (m.generative()) {
    vae::generator rng(seed ^ 0x5eedULL);
    vae::tensor<float> s;
    m.sample(64, rng, s);
    vae::io::write_png_grid((dir / "samples.png").string(), s, 8);
    // Interpolations between pairs of test images (rows: 0→1, 2→3, ...), 10 steps each.
    vae::tensor<float> rows, pair, line;
    auto x = first_test_images(d, 8);
    const std::int64_t per = x.numel() / x.dim(0);
    vae::shape gs = x.shape();
    gs[0] = 4 * 10;
    rows.resize(gs);
    for (std::int64_t p = 0; p < 4; ++p) {
      vae::cli::detail::slice_rows(x, 2 * p, 2 * p + 2, pair);
      m.interpolate(pair, 10, line);
      std::copy(line.data(), line.data() + 10 * per, rows.data() + p * 10 * per);
    }
    vae::io::write_png_grid((dir / "interpolation.png").string(), rows, 10);
  }
}

// DIR/report.html after each epoch and at the end. A report that cannot be written (say a foreign file named *.png
// in DIR) is a warning, not the end of a training run; `vae report --run DIR` then says what is wrong.
void write_report(const fs::path& dir, vae::progress_display& progress) {
  try {
    vae::write_run_report(dir);
  } catch (const std::exception& e) {
    progress.note(cat("warning: report.html not written: ", e.what()));
  }
}

struct train_args {
  std::string model = "mlp-vae", config, data = "fashion-mnist", out = "out/run", resume;
  int epochs = 5;
  std::int64_t batch = 128, image_size = 0, channels = 0, latent = 32, codebook_size = 512, code_dim = 64,
               threads = 0, limit = 0, res_blocks = 0, global_batch = 0;
  double lr = 1e-3, beta = 1.0;
  std::uint64_t seed = 0;
  std::string quantizer = "ema", device = "cpu";
  bool no_restart = false, no_kmeans = false;
  std::string restart_draw = "uniform";
  // vqgan
  std::int64_t ch = 32, disc_start = 1500;
  double disc_weight = 0.8, lecam_weight = 0.0, perceptual_weight = 1.0;
  std::string gan_loss = "hinge", rec_loss = "l1", perceptual = "none";
  bool reuse_recon = false;
  vae::cli::text2img_train_args t2i;  // text2img
};

// Refuses each flag given on the command line that preset `p` does not take (it would be ignored), naming both.
void check_flags(const vae::cli::preset& p, const CLI::App& cmd) {
  for (const CLI::Option* o : cmd.get_options()) {
    if (o->count() == 0) continue;
    std::string value;
    if (o->get_expected_min() > 0)
      for (const auto& r : o->results()) value += (value.empty() ? "" : " ") + r;
    vae::cli::check_accepts(p, o->get_name(), value);
  }
}

int run_train(const train_args& a, CLI::App& cmd, vae::cli::distributed& world) {
  if (!a.resume.empty() && vae::cli::is_text2img_run(a.resume)) {
    // Its config.json defines the run; --epochs (to train further) and --lr may change, nothing else.
    for (const CLI::Option* o : cmd.get_options())
      check(o->count() == 0 || o->check_name("--resume") || o->check_name("--epochs") || o->check_name("--lr") ||
                o->check_name("--threads") || o->check_name("--verbose"),
            [&] { return cat("--resume of a text2img run takes only --epochs, --lr and --threads, not ", o->get_name()); });
    set_threads(a.threads);
    auto c = vae::cli::text2img_config::load(fs::path(a.resume) / config_file);
    if (cmd.count("--epochs")) c.epochs = a.epochs;
    if (cmd.count("--lr")) c.lr = a.lr;
    return vae::cli::train_text2img(c, a.resume, world, /*resuming=*/true);
  }
  if (vae::cli::is_text2img(a.model)) {
    check_flags(vae::cli::preset_named(a.model), cmd);
    set_threads(a.threads);
    return vae::cli::train_text2img(vae::cli::text2img_config_from(cmd, a.t2i, a.model, a.data, a.epochs, a.batch, a.lr, a.seed), a.out, world);
  }
  vae::cli::run_config c;
  fs::path dir = a.out;
  std::int64_t start_epoch = 0, step = 0;
  const bool resuming = !a.resume.empty();
  if (resuming) {
    dir = a.resume;
    c = vae::cli::run_config::load(dir / config_file);
    if (cmd.count("--epochs")) c.epochs = a.epochs;
    if (cmd.count("--lr")) c.lr = a.lr;  // e.g. continue with a lower learning rate
    if (cmd.count("--warmup-steps")) c.warmup_steps = a.t2i.warmup_steps;
    if (cmd.count("--lr-decay")) c.lr_decay = a.t2i.lr_decay;
    if (cmd.count("--device")) c.device = a.device;  // the checkpoint is the same on every device
    // The architecture comes from the run's config.json: a different --res-blocks could not load its weights.
    check(!cmd.count("--res-blocks") || a.res_blocks == c.res_blocks, [&] {
      return cat("--resume: ", dir.string(), " was trained with --res-blocks ", c.res_blocks,
                 "; the architecture cannot change (drop --res-blocks)");
    });
  } else {
    if (!a.config.empty()) c = vae::cli::run_config::load(a.config);
    auto set = [&](const char* flag, auto& field, const auto& value) {
      if (cmd.count(flag) || a.config.empty()) field = value;
    };
    set("--model", c.model, a.model);
    set("--data", c.data, a.data);
    set("--epochs", c.epochs, a.epochs);
    set("--batch", c.batch, a.batch);
    c.batch = world.global_batch(c.batch, a.global_batch);  // the config keeps the global batch (any world size)
    set("--lr", c.lr, a.lr);
    set("--warmup-steps", c.warmup_steps, a.t2i.warmup_steps);
    set("--lr-decay", c.lr_decay, a.t2i.lr_decay);
    set("--seed", c.seed, a.seed);
    set("--latent", c.latent, a.latent);
    set("--beta", c.beta, a.beta);
    set("--res-blocks", c.res_blocks, a.res_blocks);
    set("--quantizer", c.quantizer, a.quantizer);
    set("--codebook-size", c.codebook_size, a.codebook_size);
    set("--code-dim", c.code_dim, a.code_dim);
    set("--threads", c.threads, a.threads);
    set("--limit", c.limit, a.limit);
    set("--device", c.device, a.device);
    if (cmd.count("--image-size")) c.image_size = a.image_size;
    if (cmd.count("--channels")) c.channels = a.channels;
    set("--ch", c.ch, a.ch);
    set("--disc-start", c.disc_start, a.disc_start);
    set("--disc-weight", c.disc_weight, a.disc_weight);
    set("--lecam-weight", c.lecam_weight, a.lecam_weight);
    set("--gan-loss", c.gan_loss, a.gan_loss);
    set("--perceptual", c.perceptual, a.perceptual);
    set("--perceptual-weight", c.perceptual_weight, a.perceptual_weight);
    set("--rec-loss", c.rec_loss, a.rec_loss);
    set("--restart-draw", c.restart_draw, a.restart_draw);
    if (a.reuse_recon) c.reuse_recon = true;
    // each preset's own defaults (vqgan*: learning rate, batch, data, sizes) for the flags not given; the CLI's
    // defaults are the VAEs'. --global-batch gives the batch too.
    const auto& p = vae::cli::preset_named(c.model);
    const auto given = [&](std::string_view flag) {
      return cmd.count(std::string(flag)) > 0 || (flag == "--batch" && cmd.count("--global-batch") > 0);
    };
    if (a.config.empty()) {
      vae::cli::check_required(p, given);
      vae::cli::apply_preset_defaults(p, c, given);
    }
    if (a.no_restart) c.dead_code_restart = false;
    if (a.no_kmeans) c.kmeans_init = false;
    vae::cli::restart_draw_of(c);  // refused here, before any data loads
    if (p.codes > 0) c.codebook_size = p.codes;  // vq-vae-2048
  }
  check_flags(vae::cli::preset_named(c.model), cmd);
  vae::cli::check_known_model(c.model);
  vae::cli::check_res_blocks(c);
  check_device(c.device);
  check(c.batch > 0 && c.epochs >= 0 && c.lr > 0,
        [&] { return cat("batch and lr must be positive and epochs >= 0 (got batch ", c.batch, ", lr ", c.lr, ")"); });
  check(c.warmup_steps >= 0 && (c.lr_decay == "none" || c.lr_decay == "cosine"), [&] {
    return cat("--warmup-steps must be >= 0 and --lr-decay none or cosine (got ", c.warmup_steps, ", '", c.lr_decay, "')");
  });
  set_threads(c.threads);

  auto progress = world.writer() ? vae::progress_display::to_stderr() : vae::progress_display(world.progress_stream(), false);
#if defined(VAE_CLI_WITH_CUDA)
  if (c.device == "cuda") vae::cli::check_cuda_supports(c);
#endif
  if (c.device != "cpu") progress.note(cat("device ", describe_device(c.device)));  // no usable GPU: stops here
  progress.note(cat("loading ", c.data));
  auto data = load_data(c);
  if (c.limit > 0 && c.limit < data.train_images.dim(0)) {
    vae::tensor<float> t;
    vae::cli::detail::slice_rows(data.train_images, 0, c.limit, t);
    data.train_images = std::move(t);
    if (!data.train_labels.empty()) data.train_labels.resize(static_cast<std::size_t>(c.limit));
  }
  if (vae::cli::is_classifier(c.model)) {
    check(!data.train_labels.empty() && !data.test_labels.empty(), [&] {
      return cat("--model classifier needs labels, and '", c.data, "' has none: fashion-mnist and mnist-idx have them; ",
                 "use npy:IMAGES.npy,LABELS.npy or folder:DIR with one sub-folder per class");
    });
    const auto top = std::max(*std::max_element(data.train_labels.begin(), data.train_labels.end()),
                              *std::max_element(data.test_labels.begin(), data.test_labels.end()));
    if (!resuming) c.classes = top + 1;
    check(top < c.classes, [&] {
      return cat("--resume: the data has labels up to ", top, " but ", dir.string(), " was trained on ", c.classes,
                 " classes");
    });
  }
  world.check_run(c, data.train_images.dim(0));
  const auto s = shape_of(data);
  vae::generator init(c.seed);
  // Built before the run directory is touched: a --device cuda without a usable GPU stops here, writing nothing.
  auto model = make_model(c, s, init, c.device);
  model->set_optimizer({.lr = c.lr});
  fs::create_directories(dir);
  if (resuming) {
    model->load_parameters(dir / model_file);
    const auto meta = model->load_optimizer_state(dir / optimizer_file);
    start_epoch = std::stoll(meta.at("epoch"));
    step = std::stoll(meta.at("step"));
    progress.note(cat("resuming ", dir.string(), " after epoch ", start_epoch, " (step ", step, ")"));
  } else if (world.writer()) {
    c.save(dir / config_file);
  }
  world.broadcast_parameters(*model);  // rank 0's parameters and buffers on every rank, at start and on resume
  model->set_communicator(&world.comm());
  world.attach(*model);
  if (world.parallel()) progress.note(cat("data-parallel: ", world.size(), " ranks x ", world.local_batch(c.batch),
                                          " images = global batch ", c.batch));
  // The backend the model was built on (not the flag): what tests read to know where a run trained.
  progress.note(cat(c.model, " on ", describe_device(model->device()), ": ", model->trainable_size(), " trainable parameters; ",
                    data.train_images.dim(0),
                    " training and ", data.test_images.dim(0), " test images of ", s.c, "x", s.h, "x", s.w));

  std::optional<vae::metrics_log> log;
  if (world.writer()) log.emplace(dir);
  // drop_last like the references: every step sees a full batch.
  vae::data::batch_sampler sampler(data.train_images.dim(0), c.batch, c.seed + 1, /*drop_last=*/true);
  // Draws continue from where a resumed run stopped: the generator is keyed by (seed, step).
  vae::tensor<float> batch;
  std::vector<std::int64_t> idx, shard;
  for (std::int64_t e = 0; e < start_epoch; ++e) sampler.new_epoch();  // a resumed run sees the same order
  // The schedule is a function of the global step, so a resumed run continues it where it stopped (over the epochs
  // of the resumed run's --epochs).
  const std::int64_t total_steps = static_cast<std::int64_t>(c.epochs) * sampler.batches_per_epoch();
  const auto schedule = vae::lr_schedule_named(c.lr_decay, c.lr, total_steps, c.warmup_steps);
  double step_lr = c.lr;
  for (std::int64_t epoch = start_epoch; epoch < c.epochs; ++epoch) {
    if (epoch > start_epoch) sampler.new_epoch();
    model->zero_grad();  // once per epoch (whatever ran in between); each step then leaves them zeroed
    const std::int64_t steps = sampler.batches_per_epoch();
    progress.start_epoch(epoch + 1, c.epochs, steps);
    model->set_training(true);
    model->reset_epoch_stats();
    vae::generator rng(c.seed * 1000003ULL + static_cast<std::uint64_t>(epoch) + 17);
    double loss_sum = 0, train_seconds = 0;
    std::int64_t seen = 0, epoch_steps = 0;
    const std::int64_t draws = model->family() == "vae" ? c.latent : 0;  // eps per image (world.before_step)
    while (sampler.next(idx)) {
      const double t0 = now_seconds();
      world.shard(idx, shard);
      vae::data::gather(data.train_images, shard, batch);
      if (model->needs_labels()) model->set_labels(vae::data::detail::pick_labels(data.train_labels, shard));
      world.before_step(rng, static_cast<std::int64_t>(shard.size()), draws);
      step_lr = vae::lr_at(schedule, step);
      model->set_learning_rate(step_lr);
      const double local_loss = model->train_step(batch, rng, step);
      // The gradient mean first: its allreduces may still be in flight, and no other collective may run meanwhile.
      world.average_gradients(*model);
      const double loss = world.mean(local_loss);
      world.after_step(rng, static_cast<std::int64_t>(shard.size()), draws);
      if (!std::isfinite(loss)) {
        const auto bad = model->first_nonfinite_grad();
        vae::detail::throw_error(cat(
            "training stopped: the loss is ", loss, " at epoch ", epoch + 1, ", step ", step + 1, " (",
            model->last_loss_parts(), "); first non-finite gradient: ", bad ? *bad : std::string("none"), ". ",
            epoch > 0 ? cat("The last good checkpoint (after epoch ", epoch, ") is kept in ", dir.string())
                      : std::string("No checkpoint had been written yet"),
            "; lower --lr or check the data"));
      }
      model->optimizer_step();
      train_seconds += now_seconds() - t0;
      ++step;
      ++epoch_steps;
      loss_sum += loss * static_cast<double>(idx.size());
      seen += static_cast<std::int64_t>(idx.size());
      progress.advance(loss, static_cast<std::int64_t>(idx.size()));
    }
    nlohmann::json rec = {{"epoch", epoch + 1}, {"step", step}, {"train_loss", loss_sum / static_cast<double>(seen)},
                          {"lr", step_lr}};  // the last step's
    rec.update(model->epoch_stats());
    world.check_same_parameters(*model, epoch + 1);
    if (world.parallel() && epoch == start_epoch) progress.note(world.overlap_summary());
    if (!world.writer()) continue;  // rank 0 evaluates and writes; the others go on to the next epoch's first step
    model->set_training(false);
    vae::generator eval_rng(c.seed + 7);
    const double t_eval = now_seconds();
    vae::cli::eval_request eval_req;
    eval_req.batch = vae::cli::eval_request::batch_for(s);
    eval_req.labels = &data.test_labels;
    rec.update(model->evaluate(data.test_images, eval_rng, eval_req));
    rec["eval_seconds"] = now_seconds() - t_eval;
    rec["seconds"] = train_seconds;
    rec["train_samples_per_s"] = static_cast<double>(seen) / train_seconds;
    // Checkpoint after each epoch: model first, then the optimizer state that names the epoch; both atomic.
    // Parameters and Adam's state are downloaded from the device first when they live there.
    model->save_parameters(dir / model_file, {{"model", c.model}, {"epoch", std::to_string(epoch + 1)}});
    model->save_optimizer_state(dir / optimizer_file,
                                {{"epoch", std::to_string(epoch + 1)}, {"step", std::to_string(step)}});
    c.save(dir / config_file);
    log->write(rec);
    write_report(dir, progress);
    std::string extra = cat(", test_loss ", rec["test_loss"].get<double>());
    if (rec.contains("test_elbo")) extra = cat(", test_elbo ", rec["test_elbo"].get<double>());
    if (rec.contains("test_accuracy")) extra += cat(", test_accuracy ", rec["test_accuracy"].get<double>());
    if (rec.contains("train_codebook_usage"))
      extra += cat(", codes used ", rec["train_codes_used"].get<std::int64_t>(), "/",
                   rec["train_codebook_size"].get<std::int64_t>());
    progress.end_epoch(loss_sum / static_cast<double>(seen), extra);
    std::cout << rec.dump() << std::endl;
  }
  if (!world.writer()) return 0;
  write_pictures(*model, data, dir, c.seed);
  write_report(dir, progress);
  if (start_epoch < c.epochs)
    progress.note(cat("wrote ", (dir / model_file).string(), ", ", (dir / "metrics.jsonl").string(),
                      ", report.html and pictures in ", dir.string()));
  else  // --epochs 0, or a resumed run that already has its epochs: nothing was trained, so no checkpoint was written
    progress.note(cat("no epoch to train (--epochs ", c.epochs, ", ", start_epoch, " done): wrote report.html and ",
                      "pictures of the ", start_epoch > 0 ? "checkpointed" : "untrained", " model in ", dir.string()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vae: train and use autoencoders, VAEs and VQ-VAEs (header-only C++20 library vae)"};
  app.require_subcommand(1);
  // Errors read as one sentence; --verbose (and debug builds) add where in the source they were raised.
#if defined(NDEBUG)
  bool verbose = false;
#else
  bool verbose = true;
#endif
  app.add_flag("--verbose", verbose, "errors also name the source location that raised them");
  app.fallthrough();  // --verbose may follow the subcommand too

  train_args ta;
  auto* train = app.add_subcommand("train", "train a model and write DIR/{config.json, model.safetensors, metrics.jsonl, *.png, report.html}");
  train->add_option("--model", ta.model,
                    vae::cli::preset_choices() + " (default mlp-vae; `vae presets` describes each, its flags and defaults)");
  train->add_option("--config", ta.config, "a run.json with any config keys (flags override it)");
  train->add_option("--data", ta.data,
                    "fashion-mnist | mnist-idx:PREFIX | npy:FILE | folder:DIR | fashion-mnist-captions | folder-captions:DIR | "
                    "shapes[:size=64,n=10000,test=1000,seed=S] (default fashion-mnist; captions are not used by image models)");
  train->add_option("--epochs", ta.epochs, "epochs (default 5)");
  train->add_option("--batch", ta.batch, "batch size (default 128; under mpirun: per rank)");
  train->add_option("--global-batch", ta.global_batch,
                    "under mpirun: the batch of all ranks together, split equally (the same optimisation on any world size)");
  train->add_option("--lr", ta.lr, "Adam learning rate (default 1e-3)");
  train->add_option("--seed", ta.seed, "seed for initialisation, shuffling and sampling (default 0)");
  train->add_option("--out", ta.out, "run directory (default out/run)");
  train->add_option("--resume", ta.resume, "continue the run in DIR up to --epochs");
  train->add_option("--image-size", ta.image_size, "folder/npy data: resize to this square size");
  train->add_option("--channels", ta.channels, "folder data: 1 or 3 channels");
  train->add_option("--latent", ta.latent, "VAE/AE latent size (default 32)");
  train->add_option("--beta", ta.beta, "KL weight β (default 1)");
  train->add_option("--res-blocks", ta.res_blocks,
                    "conv-ae / conv-vae: residual blocks after the encoder's convs, before the decoder's (default 0)");
  train->add_option("--quantizer", ta.quantizer, "vq | ema | fsq | gumbel | rvq (default ema)");
  train->add_option("--codebook-size", ta.codebook_size, "codebook size K (default 512)");
  train->add_option("--code-dim", ta.code_dim, "code dimension D (default 64)");
  train->add_flag("--no-restart", ta.no_restart, "vq models: no dead-code restart");
  train->add_flag("--no-kmeans", ta.no_kmeans, "vq models: no k-means codebook initialisation");
  train->add_option("--restart-draw", ta.restart_draw,
                    "vq models: the row a dead code restarts from: uniform (default) | error (drawn in proportion to "
                    "its squared distance to its code)");
  train->add_option("--ch", ta.ch, "vqgan: base channels of the encoder/decoder (default 32, a multiple of 32)");
  train->add_option("--disc-start", ta.disc_start, "vqgan: step from which the discriminator counts (default 1500)");
  train->add_option("--disc-weight", ta.disc_weight, "vqgan: factor on the adaptive GAN weight (default 0.8)");
  train->add_option("--gan-loss", ta.gan_loss, "vqgan: hinge | non-saturating (default hinge)");
  train->add_option("--rec-loss", ta.rec_loss, "vqgan: l1 | l2 reconstruction (default l1)");
  train->add_flag("--reuse-recon", ta.reuse_recon, "vqgan: D step on the AE step's reconstruction (default: a fresh one)");
  train->add_option("--lecam-weight", ta.lecam_weight, "vqgan: LeCam regularisation weight (default 0: off)");
  train->add_option("--perceptual", ta.perceptual,
                    "vqgan: none | lpips:FILE (tools/convert_lpips.py) | classifier:RUN (default none)");
  train->add_option("--perceptual-weight", ta.perceptual_weight, "vqgan: factor on the perceptual loss (default 1)");
  vae::cli::add_text2img_options(*train, ta.t2i);
  train->add_option("--threads", ta.threads, "OpenMP threads (default: all cores)");
  train->add_option("--limit", ta.limit, "train on the first N images only (quick runs)");
  train->add_option("--device", ta.device,
                    "cpu | cuda (default cpu; cuda in builds with VAE_WITH_CUDA: every model, vq-vae with --quantizer vq|ema)");

  std::string run_dir, out_file, tokens_file, device = "cpu";
  std::int64_t iwae_k = 0, n = 1000, n_samples = 64, encode_n = 0, eval_limit = 0;
  auto* eval = app.add_subcommand("eval", "print test metrics of a run as one JSON object");
  eval->add_option("--run", run_dir, "run directory")->required();
  eval->add_option("--iwae-k", iwae_k, "VAE: importance samples for log p(x) (0 = skip)");
  eval->add_option("--n", n,
                   "VAE: test images for the importance-sampled estimate (default 1000); --fid: images on each side "
                   "(default 10000)");
  eval->add_option("--limit", eval_limit, "evaluate the first N test images only (default all)");
  bool fid = false;
  std::string classifier_dir;
  vae::cli::sample_quality_request sq;
  eval->add_flag("--fid", fid,
                 "sample quality: Fréchet distance, precision/recall (k = 3) and Inception-style score of --n images "
                 "(default 10000) against the test set, in the features of --classifier");
  eval->add_option("--classifier", classifier_dir,
                   "--fid: a classifier run (vae train --model classifier); text2img: labels the generated images");
  double eval_cfg = 3.0;
  eval->add_option("--cfg", eval_cfg,
                   "text2img: guidance scale of the generated images (default: the run's preset's, 3; text2img-shapes "
                   "1.5; 1 = none)");
  vae::cli::text2img_eval_request t2i_eval;
  eval->add_option("--top-k", t2i_eval.top_k, "text2img: sampler's top-k, in [1, codebook] (default 100 or the codebook)");
  eval->add_option("--top-p", t2i_eval.top_p, "text2img: sampler's nucleus, in (0, 1] (default: the run's preset's, 0.95; "
                   "text2img-shapes 0.8)");
  eval->add_option("--temperature", t2i_eval.temperature, "text2img: sampler's temperature >= 0 (default 1; 0 = greedy)");
  eval->add_option("--of", sq.of,
                   "--fid: samples | reconstructions | train (default: samples for VAEs, train for a classifier, else "
                   "reconstructions)");
  eval->add_option("--save-images", sq.save_images, "--fid: write the compared images as DIR/{real,generated}.npy");
  std::string failures_dir;
  eval->add_option("--failures", failures_dir,
                   "shapes runs: write the images whose caption the parser does not read back into DIR (failures-*.png: "
                   "reconstructions beside their originals, or text2img's generated images; failures-*.jsonl: index, "
                   "caption and what was parsed, for every one)");
  auto* sample = app.add_subcommand("sample", "decode samples from the prior into a PNG grid");
  sample->add_option("--run", run_dir, "run directory")->required();
  sample->add_option("--n", n_samples, "number of samples (default 64)");
  sample->add_option("--out", out_file, "PNG file")->required();
  auto* reconstruct = app.add_subcommand("reconstruct", "test images over their reconstructions, as a PNG grid");
  reconstruct->add_option("--run", run_dir, "run directory")->required();
  reconstruct->add_option("--n", n_samples, "number of test images (default 64)");
  reconstruct->add_option("--out", out_file, "PNG file")->required();
  auto* encode = app.add_subcommand("encode", "vq models: the test set's token grids as int32 .npy [N, h, w]");
  encode->add_option("--run", run_dir, "run directory")->required();
  encode->add_option("--out", out_file, ".npy file")->required();
  encode->add_option("--n", encode_n, "number of test images (default all)");
  auto* decode = app.add_subcommand("decode", "vq models: decode token grids (.npy) to a PNG grid");
  decode->add_option("--run", run_dir, "run directory")->required();
  decode->add_option("--tokens", tokens_file, ".npy of int32 tokens [N, h, w]")->required();
  decode->add_option("--out", out_file, "PNG file")->required();

  vae::cli::generate_args ga;
  auto* generate = vae::cli::add_generate_command(app, ga);
  auto* presets = app.add_subcommand("presets", "list the models of vae train --model: what each is, its flags, defaults");
  auto* report = app.add_subcommand("report", "rebuild DIR/report.html: curves, pictures, config and final metrics");
  report->add_option("--run", run_dir, "run directory")->required();
  report->add_option("--out", out_file, "HTML file (default DIR/report.html)");

  for (auto* cmd : {eval, sample, reconstruct, encode, decode})
    cmd->add_option("--device", device, "cpu | cuda: where the run's model runs (default cpu, whatever trained it)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (*presets) {
      std::cout << vae::cli::presets_help();
      return 0;
    }
    if (*report) {
      std::cerr << "wrote " << vae::write_run_report(run_dir, out_file).string() << "\n";
      return 0;
    }
    if (*train) {
      auto world = vae::cli::distributed::start();
      try {
        return run_train(ta, *train, *world);
      } catch (const std::exception& e) {
        if (!world->parallel()) throw;
        std::cerr << "vae: error (" << world->describe() << "): " << e.what() << "\n";
        world->abort(1);  // the other ranks may wait in a collective this rank will never join
      }
    }
    if (*generate) return vae::cli::generate_text2img(ga, *generate);
    if (vae::cli::is_text2img_run(run_dir)) {  // eval; the image commands have no meaning for a prior
      check(static_cast<bool>(*eval), [&] { return cat("'", run_dir, "' is a text2img run: use vae generate --run ", run_dir, " or vae eval"); });
      auto q = t2i_eval;
      q.top_k_given = eval->count("--top-k") > 0;
      q.n = eval->count("--n") ? n : 16;
      q.failures_dir = failures_dir;
      q.cfg = eval_cfg;
      q.cfg_given = eval->count("--cfg") > 0;
      q.top_p_given = eval->count("--top-p") > 0;
      std::optional<loaded_run> cls;
      if (!classifier_dir.empty()) {
        cls.emplace(open_run(classifier_dir, "cpu"));
        q.classifier = dynamic_cast<vae::cli::feature_extractor*>(cls->model.get());
        check(q.classifier != nullptr, [&] {
          return cat("--classifier ", classifier_dir, " is a ", cls->config.model,
                     " run, not a classifier (train one with vae train --model classifier)");
        });
        q.classifier_name = classifier_dir;
      }
      std::cout << vae::cli::eval_text2img(run_dir, q).dump() << std::endl;
      return 0;
    }
    auto r = open_run(run_dir, device);
    if (*eval) {
      vae::generator rng(r.config.seed + 7);
      vae::cli::eval_request req;
      req.batch = vae::cli::eval_request::batch_for(shape_of(r.data));
      req.iwae_k = iwae_k;
      req.iwae_n = n;
      req.limit = eval_limit;
      req.check_tokens = r.model->has_tokens();
      req.labels = &r.data.test_labels;
      check(!fid || !classifier_dir.empty(), [&] {
        return cat("--fid needs --classifier DIR, a classifier run trained on the same data ",
                   "(vae train --model classifier --data ", r.config.data, " --out DIR)");
      });
      check(fid || (classifier_dir.empty() && !eval->count("--of") && !eval->count("--save-images")),
            "--classifier, --of and --save-images go with --fid");
      const bool shapes_captions = vae::data::is_shapes_spec(r.config.data) && r.model->reconstructs() &&
                                   r.data.test_images.dim(1) == 3 && !r.data.test_captions.empty();
      check(failures_dir.empty() || shapes_captions, [&] {
        return cat("--failures needs a run on shapes data (its captions say what each image must show); ", run_dir,
                   " trained on ", r.config.data);
      });
      auto j = r.model->evaluate(r.data.test_images, rng, req);
      if (shapes_captions) {
        vae::cli::caption_failures failures;
        j["reconstruction_caption_accuracy"] = reconstruction_caption_accuracy(
            *r.model, r.data, eval_limit, failures_dir.empty() ? nullptr : &failures);
        if (!failures_dir.empty()) failures.write(failures_dir, "failures-reconstructions");
      }
      if (fid) {
        auto cls = open_run(classifier_dir, "cpu");
        auto* features = dynamic_cast<vae::cli::feature_extractor*>(cls.model.get());
        check(features != nullptr, [&] {
          return cat("--classifier ", classifier_dir, " is a ", cls.config.model,
                     " run, not a classifier (train one with vae train --model classifier)");
        });
        sq.n = eval->count("--n") ? n : 10000;
        sq.seed = r.config.seed;
        j.update(vae::cli::measure_sample_quality(*r.model, r.data, shape_of(r.data), *features, classifier_dir, sq,
                                                  [](const std::string& line) { std::cerr << line << "\n"; }));
      }
      j["run"] = run_dir;
      j["model"] = r.config.model;
      std::cout << j.dump() << std::endl;
    } else if (*sample) {
      vae::generator rng(r.config.seed ^ 0xabcdefULL);
      vae::tensor<float> s;
      r.model->sample(n_samples, rng, s);
      vae::io::write_png_grid(out_file, s, 8);
      std::cerr << "wrote " << out_file << "\n";
    } else if (*reconstruct) {
      write_reconstructions(*r.model, r.data, out_file, n_samples);
      std::cerr << "wrote " << out_file << "\n";
    } else if (*encode) {
      check(r.model->has_tokens(), [&] { return cat("'", r.config.model, "' has no tokens: encode needs a vq model"); });
      const std::int64_t all_n = r.data.test_images.dim(0);
      const std::int64_t total = encode_n > 0 ? std::min(encode_n, all_n) : all_n;
      vae::tensor<std::int32_t> all, part;
      vae::tensor<float> x;
      for (std::int64_t b = 0; b < total; b += 500) {
        vae::cli::detail::slice_rows(r.data.test_images, b, std::min(total, b + 500), x);
        r.model->encode_tokens(x, part);
        // Tokens are [N, h, w], or [levels, N, h, w] for residual quantizers: batches stack along N.
        const bool leveled = part.rank() == 4;
        const std::int64_t levels = leveled ? part.dim(0) : 1, nb = leveled ? part.dim(1) : part.dim(0);
        if (b == 0) {
          vae::shape s = part.shape();
          s[leveled ? 1 : 0] = total;
          all.resize(s);
        }
        const std::int64_t per = part.numel() / (levels * nb);
        for (std::int64_t l = 0; l < levels; ++l)
          std::copy(part.data() + l * nb * per, part.data() + (l + 1) * nb * per, all.data() + (l * total + b) * per);
      }
      vae::io::write_npy(out_file, all.data(), all.shape());
      std::cerr << "wrote " << out_file << " (" << all.shape() << " int32 tokens)\n";
    } else if (*decode) {
      auto tokens = vae::io::read_npy(tokens_file).as<std::int32_t>();
      vae::tensor<float> out;
      r.model->decode_tokens(tokens, out);
      vae::io::write_png_grid(out_file, out, 8);
      std::cerr << "wrote " << out_file << "\n";
    }
    return 0;
  } catch (const vae::error& e) {
    std::cerr << "vae: error: " << (verbose ? e.what() : e.message()) << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "vae: error: " << e.what() << "\n";
    return 1;
  }
}
