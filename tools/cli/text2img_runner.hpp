// text2img_runner: the CLI's text-to-image commands — train a GPTPrior over [caption tokens ; VQ image tokens] of a
// trained VQ run (--tokenizer-run), generate images from prompts through that run's decoder, evaluate a text2img run.
#pragma once
#include <CLI/CLI.hpp>
#include <omp.h>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/caption_report.hpp"
#include "cli/distributed.hpp"
#include "cli/preset_registry.hpp"
#include "cli/presets.hpp"
#include "cli/run_config.hpp"
#include "cli/runner.hpp"
#include "cli/classifier_runner.hpp"
#include "cli/value_domain.hpp"
#include "vae/core/error.hpp"
#include "vae/data/dataset.hpp"
#include "vae/io/atomic_file.hpp"
#include "vae/io/png.hpp"
#include "vae/train/metrics_log.hpp"
#include "vae/train/progress.hpp"
#if defined(VAE_WITH_SENTENCEPIECE)
#include "vae/data/shapes.hpp"
#include "vae/metrics/caption_accuracy.hpp"
#include "vae/models/gpt_prior.hpp"
#include "vae/models/text_to_image.hpp"
#include "vae/text/tokenizer.hpp"
#include "vae/train/adam.hpp"
#include "vae/train/grad_clip.hpp"
#include "vae/train/lr_schedule.hpp"
#include "vae/transformer/sampler.hpp"
#endif

namespace vae::cli {

// A text2img preset (kind text2img of preset_registry.hpp) as this runner reads it: the data, the token grid and
// codebook its VQ run must give (0: any) and the prior's sizes.
struct text2img_preset {
  std::string data;
  std::int64_t grid = 0, codebook = 0;  // the VQ run's token grid (grid × grid) and codebook size; 0 = any
  std::string vq_preset;                // the VQ preset that gives them
  double guidance = 3;                  // vae generate / eval's --cfg when not given
  double top_p = 0.95;                  // and --top-p
  int epochs = 5;
  std::int64_t batch = 64;
  double lr = 3e-4;
  std::int64_t warmup_steps = 0;
  std::string lr_decay = "none";
  double grad_clip = 0;
  std::int64_t n_layer = 4, n_head = 4, n_embd = 128;
};

inline text2img_preset text2img_preset_of(const std::string& model) {
  const preset& p = preset_named(model);
  check(p.kind == preset_kind::text2img, [&] {
    return cat("'", model, "' is not a text2img preset: choose ", preset_choices({preset_kind::text2img}));
  });
  text2img_preset t;
  t.data = parse_default(p, "--data", t.data);
  t.grid = p.text2img.grid;
  t.codebook = p.text2img.codebook;
  t.vq_preset = std::string(p.text2img.vq_preset);
  t.guidance = p.text2img.guidance;
  t.top_p = p.text2img.top_p;
  t.epochs = parse_default(p, "--epochs", t.epochs);
  t.batch = parse_default(p, "--batch", t.batch);
  t.lr = parse_default(p, "--lr", t.lr);
  t.warmup_steps = parse_default(p, "--warmup-steps", t.warmup_steps);
  t.lr_decay = parse_default(p, "--lr-decay", t.lr_decay);
  t.grad_clip = parse_default(p, "--grad-clip", t.grad_clip);
  t.n_layer = parse_default(p, "--n-layer", t.n_layer);
  t.n_head = parse_default(p, "--n-head", t.n_head);
  t.n_embd = parse_default(p, "--n-embd", t.n_embd);
  return t;
}

// Whether DIR is a text2img run (its config.json names the model), for the commands that treat those differently.
inline bool is_text2img_run(const std::filesystem::path& dir) {
  std::ifstream in(dir / "config.json");
  if (!in) return false;
  try {
    const auto j = nlohmann::json::parse(in);
    return j.contains("model") && j.at("model").is_string() && is_text2img(j.at("model").get<std::string>());
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

// Everything that defines a text2img run: DIR/config.json. The prior's sizes are the `text2img` preset's unless given.
struct text2img_config {
  std::string model = "text2img";  // the preset: text2img, text2img-shapes or text2img-seed
  std::string data = "fashion-mnist-captions";
  std::string tokenizer_run;  // the VQ run whose encoder makes the image tokens and whose decoder draws them
  int epochs = 5;
  std::int64_t batch = 64;
  double lr = 3e-4;
  std::uint64_t seed = 0;
  double caption_dropout = 0.1;
  std::int64_t warmup_steps = 0;  // linear warm-up of the learning rate over the first steps (0: none)
  std::string lr_decay = "none";  // none | cosine (to 0 at the last step, after the warm-up)
  double grad_clip = 0;           // clip the gradient's global norm to this (0: off)
  std::int64_t n_layer = 4, n_head = 4, n_embd = 128;
  std::int64_t text_length = 0;  // set from the training captions: the longest encoded caption
  std::int64_t text_vocab = 0, image_vocab = 0, image_height = 0, image_width = 0;  // set at training
  std::int64_t pixel_channels = 0, pixel_height = 0, pixel_width = 0;  // the images the VQ run decodes to

  nlohmann::json to_json() const {
    return {{"model", model}, {"data", data}, {"tokenizer_run", tokenizer_run}, {"epochs", epochs}, {"batch", batch},
            {"lr", lr}, {"seed", seed}, {"caption_dropout", caption_dropout}, {"warmup_steps", warmup_steps},
            {"lr_decay", lr_decay}, {"grad_clip", grad_clip}, {"n_layer", n_layer}, {"n_head", n_head},
            {"n_embd", n_embd}, {"text_length", text_length}, {"text_vocab", text_vocab}, {"image_vocab", image_vocab},
            {"image_height", image_height}, {"image_width", image_width}, {"pixel_channels", pixel_channels},
            {"pixel_height", pixel_height}, {"pixel_width", pixel_width}};
  }
  static text2img_config load(const std::filesystem::path& file) {
    std::ifstream in(file);
    check(static_cast<bool>(in), [&] { return cat("cannot read config '", file.string(), "'"); });
    text2img_config c;
    try {
      const auto j = nlohmann::json::parse(in);
      auto get = [&](const char* key, auto& field) {
        if (j.contains(key)) field = j.at(key).get<std::decay_t<decltype(field)>>();
      };
      get("model", c.model); get("data", c.data); get("tokenizer_run", c.tokenizer_run); get("epochs", c.epochs);
      get("batch", c.batch); get("lr", c.lr); get("seed", c.seed); get("caption_dropout", c.caption_dropout);
      get("warmup_steps", c.warmup_steps); get("lr_decay", c.lr_decay); get("grad_clip", c.grad_clip);
      get("n_layer", c.n_layer); get("n_head", c.n_head); get("n_embd", c.n_embd); get("text_length", c.text_length);
      get("text_vocab", c.text_vocab); get("image_vocab", c.image_vocab); get("image_height", c.image_height);
      get("image_width", c.image_width); get("pixel_channels", c.pixel_channels); get("pixel_height", c.pixel_height);
      get("pixel_width", c.pixel_width);
    } catch (const nlohmann::json::exception& e) {
      vae::detail::throw_error(cat("config '", file.string(), "' is not valid: ", e.what()));
    }
    return c;
  }
  void save(const std::filesystem::path& file) const { io::write_text_atomically(file, to_json().dump(2) + "\n"); }
};

// The flags of `vae train --model text2img*` beyond the common ones (epochs, batch, lr, seed, data, out); the
// learning-rate schedule's two (warmup_steps, lr_decay) are read by the image presets too.
struct text2img_train_args {
  std::string tokenizer_run;
  double caption_dropout = 0.1;
  std::int64_t warmup_steps = 0;
  std::string lr_decay = "none";
  double grad_clip = 0;
  std::int64_t n_layer = 4, n_head = 4, n_embd = 128;  // the preset's unless given
};

// Registers the text2img flags on `vae train`.
inline void add_text2img_options(CLI::App& train, text2img_train_args& a) {
  train.add_option("--tokenizer-run", a.tokenizer_run, "text2img: the VQ run (vq-vae, vqgan) whose tokens it models");
  train.add_option("--caption-dropout", a.caption_dropout, "text2img: empty-caption probability (default 0.1)");
  train.add_option("--warmup-steps", a.warmup_steps,
                   "linear learning-rate warm-up steps (default 0, or the preset's: vqgan-shapes 100, text2img-shapes 200)");
  train.add_option("--lr-decay", a.lr_decay,
                   "none | cosine: the learning rate decays to 0 at the last step (default none; vqgan-shapes and "
                   "text2img-shapes cosine)");
  train.add_option("--grad-clip", a.grad_clip,
                   "text2img: clip the gradient's global norm (default 0: off; text2img-shapes 1)");
  train.add_option("--n-layer", a.n_layer, "text2img: transformer layers (default 4; text2img-seed 8)");
  train.add_option("--n-head", a.n_head, "text2img: attention heads (default 4; text2img-seed 8)");
  train.add_option("--n-embd", a.n_embd, "text2img: width (default 128; text2img-seed 512)");
}

// The run's config from the flags of `vae train --model text2img*`: the preset's data, epochs, batch, lr and prior
// sizes where no flag gives them.
inline text2img_config text2img_config_from(const CLI::App& cmd, const text2img_train_args& a, const std::string& model,
                                            const std::string& data, int epochs, std::int64_t batch, double lr,
                                            std::uint64_t seed) {
  const auto p = text2img_preset_of(model);
  const auto given = [&](const char* flag) { return cmd.count(flag) > 0; };
  text2img_config c;
  c.model = model;
  c.data = given("--data") ? data : p.data;
  c.tokenizer_run = a.tokenizer_run;
  c.epochs = given("--epochs") ? epochs : p.epochs;
  c.batch = given("--batch") ? batch : p.batch;
  c.lr = given("--lr") ? lr : p.lr;
  c.seed = seed;
  c.caption_dropout = a.caption_dropout;
  c.warmup_steps = given("--warmup-steps") ? a.warmup_steps : p.warmup_steps;
  c.lr_decay = given("--lr-decay") ? a.lr_decay : p.lr_decay;
  c.grad_clip = given("--grad-clip") ? a.grad_clip : p.grad_clip;
  c.n_layer = given("--n-layer") ? a.n_layer : p.n_layer;
  c.n_head = given("--n-head") ? a.n_head : p.n_head;
  c.n_embd = given("--n-embd") ? a.n_embd : p.n_embd;
  return c;
}

// Refuses a VQ run whose tokens are not the preset's (grid × grid of `codebook` codes), naming both.
inline void check_preset_tokens(const text2img_config& c, const std::string& vq_model, std::int64_t h, std::int64_t w,
                                std::int64_t codebook) {
  const auto p = text2img_preset_of(c.model);
  if (p.grid == 0) return;
  check(h == p.grid && w == p.grid && codebook == p.codebook, [&] {
    return cat("--model ", c.model, " models ", p.grid, "x", p.grid, " token grids of ", p.codebook, " codes (a ",
               p.vq_preset, " run), but --tokenizer-run '", c.tokenizer_run, "' (", vq_model, ") gives ", h, "x", w,
               " tokens of ", codebook, " codes on ", c.data, ": train vae train --model ", p.vq_preset,
               " and give that run, or use --model text2img");
  });
}

// The flags of `vae generate`.
struct generate_args {
  std::string run, prompt, prompts_file, out;
  std::int64_t n = 16, top_k = 100, threads = 0;
  double cfg = 3.0, top_p = 0.95, temperature = 1.0;
  std::uint64_t seed = 0;
  bool prompt_given = false, n_given = false, top_k_given = false, cfg_given = false, top_p_given = false;
};

// Registers `vae generate`; run_generate reads which flags were given from it.
inline CLI::App* add_generate_command(CLI::App& app, generate_args& a) {
  auto* g = app.add_subcommand("generate", "text2img runs: images from prompts, as a PNG grid or DIR/ of PNGs");
  g->add_option("--run", a.run, "text2img run directory")->required();
  g->add_option("--prompt", a.prompt, "a caption (\"\" = unconditional)");
  g->add_option("--prompts", a.prompts_file, "a file of captions, one a line");
  g->add_option("--n", a.n, "images (default 16; with --prompts and no --n: one per line)");
  g->add_option("--cfg", a.cfg,
                "classifier-free guidance scale >= 0 (default: the run's preset's, 3; text2img-shapes 1.5; 1 = none, "
                "0 = unconditional)");
  g->add_option("--top-k", a.top_k, "keep the k most likely tokens, in [1, codebook] (default 100 or the codebook)");
  g->add_option("--top-p", a.top_p, "nucleus sampling, in (0, 1] (default: the run's preset's, 0.95; text2img-shapes 0.8)");
  g->add_option("--temperature", a.temperature, "softmax temperature >= 0 (default 1; 0 = greedy)");
  g->add_option("--seed", a.seed, "sampling seed (default 0)");
  g->add_option("--threads", a.threads,
                "OpenMP threads (default: all cores; on a busy machine 1 can be far faster, each token is a small step)");
  g->add_option("--out", a.out, "FILE.png (a grid) or DIR/ (one PNG per image and prompts.jsonl)")->required();
  return g;
}

// A trained VQ run (vq-vae, vq-vae-2048, vqgan): its config and its model on the cpu, weights loaded. As a
// TokenDecoder it draws token grids [N, h, w] as pixels in [0, 1] at the run's image size.
struct vq_tokenizer {
  run_config config;
  image_shape shape;
  std::unique_ptr<runner> model;
  std::int64_t codebook = 0;

  void decode_tokens(const tensor<std::int32_t>& tokens, tensor<float>& images) { model->decode_tokens(tokens, images); }
};

// The codebook size of VQ run config `c` (FSQ: its implicit 8·5·5·5 codes).
inline std::int64_t codebook_size_of(const run_config& c) {
  if (c.quantizer == "fsq" && is_vq(c.model)) return 8 * 5 * 5 * 5;
  if (const auto* p = find_preset(c.model); p != nullptr && p->codes > 0) return p->codes;  // vq-vae-2048
  return c.codebook_size;
}

// The config of VQ run DIR (vq-vae, vq-vae-2048, vqgan); refuses a run that is no VQ model, naming what it is.
inline run_config vq_run_config(const std::filesystem::path& dir) {
  check(!dir.empty(), "--model text2img needs --tokenizer-run DIR, a trained VQ run (vae train --model vq-vae or vqgan)");
  check(std::filesystem::exists(dir / "config.json") && std::filesystem::exists(dir / "model.safetensors"), [&] {
    return cat("--tokenizer-run '", dir.string(), "' is not a training run: it needs config.json and model.safetensors");
  });
  if (is_text2img_run(dir))
    vae::detail::throw_error(cat("--tokenizer-run '", dir.string(),
                                 "' is a text2img run, not a VQ model (give the vq-vae or vqgan run it was trained on)"));
  auto c = run_config::load(dir / "config.json");
  const bool rvq = is_vq(c.model) && c.quantizer == "rvq";
  check((is_vq(c.model) || is_vqgan(c.model)) && !rvq, [&] {
    return cat("--tokenizer-run '", dir.string(), "' is a ", c.model, rvq ? " run with residual (rvq) tokens" : " run",
               ", not a VQ model with one token grid: train one with vae train --model vq-vae (or vqgan)");
  });
  return c;
}

// Loads VQ run DIR, checked by vq_run_config, for images of `shape`.
inline vq_tokenizer open_vq_tokenizer(const std::filesystem::path& dir, image_shape shape) {
  vq_tokenizer t;
  t.config = vq_run_config(dir);
  t.shape = shape;
  generator init(t.config.seed);
  t.model = make_runner(t.config, shape, init);
  t.model->load_parameters(dir / "model.safetensors");
  t.model->set_training(false);
  t.codebook = codebook_size_of(t.config);
  return t;
}

// The data of a text2img run at the size and channels of its VQ run's images; it must carry captions.
inline data::dataset load_captioned_data(const std::string& spec, const run_config& vq, std::uint64_t seed) {
  data::load_options o;
  o.image_size = static_cast<int>(vq.image_size);
  o.channels = static_cast<int>(vq.channels);
  o.seed = seed;
  o.values = value_domain_of(vq);
  o.values_for = value_domain_reason(vq);
  auto d = data::load_dataset(spec, o);
  check(!d.train_captions.empty() && !d.test_captions.empty(), [&] {
    return cat("--model text2img needs captioned data, and '", spec,
               "' has no captions: use shapes[:...], fashion-mnist-captions or folder-captions:DIR");
  });
  return d;
}

// What `vae eval` of a text2img run generates and scores beyond the test token NLL.
struct text2img_eval_request {
  std::int64_t n = 16;   // images generated from the first n test captions (0: none)
  double cfg = 3.0;      // guidance scale of those images (1: none)
  bool cfg_given = true;  // false: the run's preset's guidance instead of cfg
  bool top_p_given = true;  // false: the run's preset's nucleus instead of top_p
  std::int64_t top_k = 100;  // the sampler of those images, as vae generate's flags (top_k: at most the codebook)
  double top_p = 0.95, temperature = 1.0;
  bool top_k_given = false;  // an explicit --top-k above the codebook is refused; the default is capped
  feature_extractor* classifier = nullptr;  // labels images of class captions (fashion-mnist-captions)
  std::string classifier_name;
  std::string failures_dir;  // shapes captions: where the images the parser does not read back go (empty: nowhere)
};

#if defined(VAE_WITH_SENTENCEPIECE)

namespace text2img_detail {

inline double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The token grids of `images` [N, C, H, W] by the VQ run's encoder, [N, h·w], in evaluation batches
// (eval_request::batch_for: the encoder's buffers stay allocated while the prior trains).
inline tensor<std::int32_t> encode_images(vq_tokenizer& vq, const tensor<float>& images, std::int64_t& h,
                                          std::int64_t& w) {
  const std::int64_t n = images.dim(0);
  const std::int64_t batch = eval_request::batch_for({1, 1, n > 0 ? images.numel() / n : 1});
  tensor<std::int32_t> all, part;
  tensor<float> x;
  for (std::int64_t b = 0; b < n; b += batch) {
    detail::slice_rows(images, b, std::min(n, b + batch), x);
    vq.model->encode_tokens(x, part);
    check(part.rank() == 3, [&] { return cat("text2img: expected VQ tokens [N, h, w], got ", part.shape()); });
    if (b == 0) {
      h = part.dim(1);
      w = part.dim(2);
      all.resize({n, h * w});
    }
    std::copy(part.begin(), part.end(), all.data() + b * h * w);
  }
  return all;
}

inline void gather_rows(const tensor<std::int32_t>& src, const std::vector<std::int64_t>& idx, tensor<std::int32_t>& dst) {
  const std::int64_t w = src.dim(1);
  dst.resize({static_cast<std::int64_t>(idx.size()), w});
  for (std::size_t i = 0; i < idx.size(); ++i)
    std::copy(src.data() + idx[i] * w, src.data() + (idx[i] + 1) * w, dst.data() + static_cast<std::int64_t>(i) * w);
}

inline gpt_prior_options prior_options(const text2img_config& c) {
  gpt_prior_options o;
  o.text_vocab = c.text_vocab;
  o.text_length = c.text_length;
  o.image_vocab = c.image_vocab;
  o.image_height = c.image_height;
  o.image_width = c.image_width;
  o.n_layer = c.n_layer;
  o.n_head = c.n_head;
  o.n_embd = c.n_embd;
  o.caption_dropout = c.caption_dropout;
  o.empty_text_token = text::caption_tokenizer::pad_id;
  return o;
}

// Mean image-token NLL (nats) of the prior over (text, image) rows, in batches.
inline double token_nll(GPTPrior<float>& prior, const tensor<std::int32_t>& text, const tensor<std::int32_t>& image) {
  const std::int64_t n = text.dim(0);
  double sum = 0;
  std::vector<std::int64_t> idx;
  tensor<std::int32_t> t, im;
  for (std::int64_t b = 0; b < n; b += 64) {
    idx.clear();
    for (std::int64_t i = b; i < std::min(n, b + 64); ++i) idx.push_back(i);
    gather_rows(text, idx, t);
    gather_rows(image, idx, im);
    sum += prior.evaluate(t, im).image_nll * static_cast<double>(idx.size());
  }
  return sum / static_cast<double>(n);
}

// A trained text2img run: its config and the model (tokenizer, prior, the VQ run as its decoder).
struct text2img_run {
  text2img_config config;
  TextToImage<vq_tokenizer> model;
};

inline text2img_run open_text2img_run(const std::filesystem::path& dir) {
  check(is_text2img_run(dir) && std::filesystem::exists(dir / "model.safetensors"), [&] {
    return cat("'", dir.string(), "' is not a text2img run: it needs config.json (model text2img) and model.safetensors ",
               "(written by vae train --model text2img --out DIR)");
  });
  auto config = text2img_config::load(dir / "config.json");
  const image_shape s{config.pixel_channels, config.pixel_height, config.pixel_width};
  auto model = TextToImage<vq_tokenizer>::load(dir, [&](const std::filesystem::path& vq) {
    return open_vq_tokenizer(vq, s);
  });
  return {std::move(config), std::move(model)};
}

// "sampling 40/64 positions, 1234 tokens/s" on standard error while the sampler runs (redrawn on a terminal; else
// only the last line, so logs stay readable).
inline std::function<void(std::int64_t, std::int64_t)> sampling_progress(std::int64_t images) {
  const double start = seconds_now();
  const bool tty = progress_display::stderr_is_tty();
  auto last = std::make_shared<double>(0.0);
  return [images, start, tty, last](std::int64_t done, std::int64_t total) {
    const double now = seconds_now();
    if (done < total && (!tty || now - *last < 0.2)) return;
    *last = now;
    const double rate = static_cast<double>(done * images) / std::max(now - start, 1e-9);
    std::cerr << (tty ? "\r" : "") << "sampling " << done << "/" << total << " positions of " << images
              << " images, " << static_cast<std::int64_t>(rate) << " tokens/s" << (done == total ? "\n" : "")
              << std::flush;
  };
}

// Images [n, C, H, W] of `prompts` with a progress line.
inline tensor<float> generate_images(text2img_run& r, const std::vector<std::string>& prompts, sampling_options s) {
  s.progress = sampling_progress(static_cast<std::int64_t>(prompts.size()));
  return r.model.generate(prompts, s, s.seed);
}

}  // namespace text2img_detail

// vae train --model text2img: encodes the data's images with the VQ run, trains the caption tokenizer and the prior.
// `resuming`: c is DIR's config.json (with the --epochs / --lr given); the caption tokenizer, the prior and Adam's
// state come from DIR and training goes on after the last checkpointed epoch, as the uninterrupted run would have.
inline int train_text2img(text2img_config c, const std::filesystem::path& dir, distributed& world_,
                          bool resuming = false) {
  using namespace text2img_detail;
  check(c.batch > 0 && c.epochs >= 0 && c.lr > 0 && c.caption_dropout >= 0 && c.caption_dropout <= 1, [&] {
    return cat("text2img: batch and lr must be positive, epochs >= 0 and --caption-dropout in [0, 1] (got batch ",
               c.batch, ", lr ", c.lr, ", epochs ", c.epochs, ", caption dropout ", c.caption_dropout, ")");
  });
  check(c.warmup_steps >= 0 && c.grad_clip >= 0 && (c.lr_decay == "none" || c.lr_decay == "cosine"), [&] {
    return cat("text2img: --warmup-steps and --grad-clip must be >= 0 and --lr-decay none or cosine (got ",
               c.warmup_steps, ", ", c.grad_clip, ", '", c.lr_decay, "')");
  });
  // Data-parallel under mpirun as the image models (cli::distributed): each rank takes its rows of every global
  // batch (--batch is the global batch here) and its share of the caption-dropout draws; the prior's gradients are
  // averaged in buckets overlapped with its backward; rank 0 alone evaluates and writes.
  auto* world = &world_;
  auto progress = world->writer() ? progress_display::to_stderr() : progress_display(world->progress_stream(), false);
  const std::filesystem::path vq_dir = c.tokenizer_run;
  const auto vq_config = vq_run_config(vq_dir);
  c.tokenizer_run = std::filesystem::absolute(vq_dir).lexically_normal().string();
  progress.note(cat("loading ", c.data));
  auto data = load_captioned_data(c.data, vq_config, c.seed);
  const image_shape s{data.train_images.dim(1), data.train_images.dim(2), data.train_images.dim(3)};
  auto vq = open_vq_tokenizer(vq_dir, s);
  c.image_vocab = vq.codebook;
  c.pixel_channels = s.c, c.pixel_height = s.h, c.pixel_width = s.w;

  const double t0 = seconds_now();
  {  // one image first: a preset refuses a VQ run of another grid or codebook before the whole data is encoded
    tensor<float> first;
    detail::slice_rows(data.train_images, 0, 1, first);
    std::int64_t h = 0, w = 0;
    encode_images(vq, first, h, w);
    check_preset_tokens(c, vq_config.model, h, w, c.image_vocab);
  }
  auto train_image = encode_images(vq, data.train_images, c.image_height, c.image_width);
  auto test_image = encode_images(vq, data.test_images, c.image_height, c.image_width);
  progress.note(cat("encoded ", data.train_images.dim(0), " training and ", data.test_images.dim(0), " test images to ",
                    c.image_height, "x", c.image_width, " token grids (", c.image_vocab, " codes) with ", vq_config.model,
                    " in ", seconds_now() - t0, " s"));

  auto tok = resuming ? text::caption_tokenizer::load(dir / text::tokenizer_file)
                      : text::caption_tokenizer::train(data.train_captions);
  if (!resuming) {
    std::int64_t longest = 0;
    for (const auto& cap : data.train_captions)
      longest = std::max<std::int64_t>(longest, static_cast<std::int64_t>(tok.pieces(cap).size()));
    c.text_length = longest + 2;  // <bos> ... <eos>
    c.text_vocab = tok.vocab_size();
  }
  check(tok.vocab_size() == c.text_vocab, [&] {
    return cat("--resume: ", dir.string(), "'s caption tokenizer has ", tok.vocab_size(), " pieces, its config says ",
               c.text_vocab);
  });
  auto train_text = encode_prompts(tok, data.train_captions, c.text_length);
  // Test captions longer than the training ones are truncated, unseen words become <unk>: one line says how many.
  std::int64_t truncated = 0, unknown = 0;
  auto test_text = encode_prompts(tok, data.test_captions, c.text_length, [&](const std::string& m) {
    truncated += m.find("text context") != std::string::npos;
    unknown += m.find("<unk>") != std::string::npos;
  });
  if (truncated || unknown)
    progress.note(cat("warning: of the test captions ", truncated, " were truncated to ", c.text_length, " tokens and ",
                      unknown, " have words the training captions lack (<unk>)"));

  world->check_same_config(c.to_json());  // after the tokenizer: its vocabulary and context are fields too
  world->check_world_fits(std::min(c.batch, train_text.dim(0)), train_text.dim(0));
  GPTPrior<float> prior(prior_options(c), c.seed);
  world->broadcast_parameters(prior.parameters());
  prior.set_gradient_sync(world->attach(prior.parameters()));
  Adam<float> adam({.lr = c.lr});
  const std::filesystem::path optimizer_file = dir / "optimizer.safetensors";
  int start_epoch = 0;
  std::int64_t step = 0;
  if (resuming) {
    check(std::filesystem::exists(optimizer_file), [&] {
      return cat("--resume: ", dir.string(), " has no optimizer.safetensors (a run written before text2img runs could ",
                 "resume, or one that finished no epoch)");
    });
    prior.load(dir / "model.safetensors");
    const auto meta = load_optimizer_state(optimizer_file, adam, prior.parameters());
    start_epoch = std::stoi(meta.at("epoch"));
    step = std::stoll(meta.at("step"));
    world->broadcast_parameters(prior.parameters());
    progress.note(cat("resuming ", dir.string(), " after epoch ", start_epoch, " (step ", step, ")"));
  } else if (world->writer()) {
    std::filesystem::create_directories(dir);
    tok.save(dir / text::tokenizer_file);
    c.save(dir / "config.json");
  }
  if (world->parallel())
    progress.note(cat("data-parallel: ", world->size(), " ranks x ", world->local_batch(std::min(c.batch, train_text.dim(0))),
                      " pairs = global batch ", std::min(c.batch, train_text.dim(0))));
  progress.note(cat("text2img on cpu: ", prior.parameters().trainable_size(), " trainable parameters; ", c.n_layer,
                    " layers, d ", c.n_embd, ", ", c.n_head, " heads; ", c.text_length, " caption tokens (vocabulary ",
                    c.text_vocab, ") + ", c.image_height * c.image_width, " image tokens; ", train_text.dim(0),
                    " training and ", test_text.dim(0), " test pairs"));
  std::optional<metrics_log> log;
  if (world->writer()) log.emplace(dir);
  data::batch_sampler sampler(train_text.dim(0), std::min(c.batch, train_text.dim(0)), c.seed + 1, /*drop_last=*/true);
  std::vector<std::int64_t> idx, shard;
  const std::int64_t draws = c.caption_dropout > 0 ? 1 : 0;  // uniform draws per row (GPTPrior's caption dropout)
  tensor<std::int32_t> bt, bi;
  for (int e = 0; e < start_epoch; ++e) sampler.new_epoch();  // a resumed run sees the same order
  const std::int64_t total_steps = sampler.batches_per_epoch() * c.epochs;
  const auto schedule = lr_schedule_named(c.lr_decay, c.lr, total_steps, c.warmup_steps);
  if (start_epoch >= c.epochs && world->writer())
    progress.note(cat("no epoch to train (--epochs ", c.epochs, ", ", start_epoch, " done): ", dir.string(),
                      " is left as it is"));
  for (int epoch = start_epoch; epoch < c.epochs; ++epoch) {
    if (epoch > start_epoch) sampler.new_epoch();
    generator rng(c.seed * 1000003ULL + static_cast<std::uint64_t>(epoch) + 17);
    progress.start_epoch(epoch + 1, c.epochs, sampler.batches_per_epoch());
    double loss_sum = 0, seconds = 0;
    std::int64_t seen = 0;
    while (sampler.next(idx)) {
      const double ts = seconds_now();
      world->shard(idx, shard);
      gather_rows(train_text, shard, bt);
      gather_rows(train_image, shard, bi);
      world->before_step(rng, static_cast<std::int64_t>(shard.size()), draws);
      const auto l = prior.train_step_loss(bt, bi, rng);
      world->average_gradients();  // before any other collective: its allreduces may still be in flight
      const double loss = world->mean(l.loss), image_nll = world->mean(l.image_nll);
      world->after_step(rng, static_cast<std::int64_t>(shard.size()), draws);
      check(std::isfinite(loss), [&] {
        return cat("training stopped: the loss is ", loss, " at epoch ", epoch + 1, ", step ", step + 1, "; lower --lr");
      });
      if (c.grad_clip > 0) clip_grad_norm(prior.parameters(), c.grad_clip);
      adam.set_lr(lr_at(schedule, step));
      adam.step_and_zero_grad(prior.parameters());
      seconds += seconds_now() - ts;
      ++step;
      loss_sum += image_nll * static_cast<double>(idx.size());
      seen += static_cast<std::int64_t>(idx.size());
      progress.advance(loss, static_cast<std::int64_t>(idx.size()));
    }
    world->check_same_parameters({&prior.parameters()}, epoch + 1);
    if (!world->writer()) continue;
    const double train_nll = seen ? loss_sum / static_cast<double>(seen) : 0.0;
    const double test_nll = token_nll(prior, test_text, test_image);
    const double tokens = static_cast<double>(seen * c.image_height * c.image_width);
    nlohmann::json rec = {{"epoch", epoch + 1},
                          {"step", step},
                          {"train_loss", train_nll},
                          {"test_loss", test_nll},
                          {"test_token_nll", test_nll},
                          {"test_bits_per_token", test_nll / std::log(2.0)},
                          {"seconds", seconds},
                          {"train_tokens_per_s", seconds > 0 ? tokens / seconds : 0.0}};
    // Checkpoint: the prior, then Adam's state that names the epoch (both written atomically).
    prior.save(dir / "model.safetensors");
    save_optimizer_state(optimizer_file, adam, prior.parameters(),
                         {{"epoch", std::to_string(epoch + 1)}, {"step", std::to_string(step)}});
    log->write(rec);
    progress.end_epoch(train_nll, cat(", test token NLL ", test_nll, " nats (", test_nll / std::log(2.0), " bits)"));
    std::cout << rec.dump() << std::endl;
  }
  if (!world->writer()) return 0;
  if (c.epochs == 0) prior.save(dir / "model.safetensors");
  if (start_epoch < c.epochs || c.epochs == 0)
    progress.note(cat("wrote ", (dir / "model.safetensors").string(), ", ", text::tokenizer_file, ", config.json and ",
                      "metrics.jsonl in ", dir.string()));
  return 0;
}

// vae generate: images from prompts; one grid PNG, or DIR/ with one PNG per image and prompts.jsonl.
inline int generate_text2img(generate_args a, const CLI::App& cmd) {
  using namespace text2img_detail;
  a.prompt_given = cmd.count("--prompt") > 0;
  a.n_given = cmd.count("--n") > 0;
  a.top_k_given = cmd.count("--top-k") > 0;
  a.cfg_given = cmd.count("--cfg") > 0;
  a.top_p_given = cmd.count("--top-p") > 0;
  if (a.threads > 0) omp_set_num_threads(static_cast<int>(a.threads));
  check(a.n >= 1, [&] { return cat("--n must be ≥ 1 (images to generate), got ", a.n); });
  check(a.prompt_given != !a.prompts_file.empty(), "vae generate needs exactly one of --prompt TEXT and --prompts FILE");
  check(!a.out.empty(), "vae generate needs --out FILE.png or --out DIR/");
  auto r = open_text2img_run(a.run);
  std::vector<std::string> prompts;
  if (a.prompt_given) {
    prompts.push_back(a.prompt);
  } else {
    std::ifstream in(a.prompts_file);
    check(static_cast<bool>(in), [&] { return cat("--prompts: cannot read '", a.prompts_file, "'"); });
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      prompts.push_back(line);
    }
    check(!prompts.empty(), [&] { return cat("--prompts '", a.prompts_file, "' has no lines (one prompt a line)"); });
  }
  // --prompts without --n: one image per prompt; otherwise image i takes prompt i mod the number of prompts.
  const std::int64_t n = a.prompt_given || a.n_given ? a.n : static_cast<std::int64_t>(prompts.size());
  std::vector<std::string> per_image;
  for (std::int64_t i = 0; i < n; ++i) per_image.push_back(prompts[static_cast<std::size_t>(i) % prompts.size()]);
  const std::int64_t v = r.config.image_vocab;
  check(!a.top_k_given || (a.top_k >= 1 && a.top_k <= v), [&] {
    return cat("--top-k must be in [1, ", v, "] (the tokenizer run's codebook), got ", a.top_k);
  });
  check(a.top_p > 0 && a.top_p <= 1, [&] { return cat("--top-p must be in (0, 1], got ", a.top_p); });
  check(std::isfinite(a.cfg) && a.cfg >= 0, [&] {
    return cat("--cfg must be ≥ 0 (1 = no guidance, 0 = unconditional), got ", a.cfg);
  });
  check(std::isfinite(a.temperature) && a.temperature >= 0, [&] {
    return cat("--temperature must be ≥ 0 (0 = greedy), got ", a.temperature);
  });
  sampling_options s;
  s.temperature = a.temperature;
  s.top_k = a.top_k_given ? a.top_k : std::min(a.top_k, r.config.image_vocab);
  s.top_p = a.top_p_given ? a.top_p : text2img_preset_of(r.config.model).top_p;
  s.cfg_scale = a.cfg_given ? a.cfg : text2img_preset_of(r.config.model).guidance;
  s.seed = a.seed;
  check_sampling_options(s, r.config.image_vocab);
  const auto images = generate_images(r, per_image, s);
  const bool to_dir = a.out.back() == '/' || std::filesystem::is_directory(a.out);
  if (!to_dir) {
    io::write_png_grid(a.out, images, 8);
    std::cerr << "wrote " << a.out << " (" << n << " images)\n";
    return 0;
  }
  const std::filesystem::path dir = a.out;
  std::filesystem::create_directories(dir);
  std::string lines;
  tensor<float> one;
  for (std::int64_t i = 0; i < n; ++i) {
    detail::slice_rows(images, i, i + 1, one);
    char name[32];
    std::snprintf(name, sizeof name, "%04lld.png", static_cast<long long>(i));
    io::write_png_grid((dir / name).string(), one, 1, 0);
    // seed: the --seed of the batch; image `index` of the same prompts, n and options reproduces this file.
    lines += nlohmann::json{{"file", name}, {"prompt", per_image[static_cast<std::size_t>(i)]}, {"seed", a.seed},
                            {"index", i}}.dump() + "\n";
  }
  io::write_text_atomically(dir / "prompts.jsonl", lines);
  std::cerr << "wrote " << n << " PNGs and prompts.jsonl in " << dir.string() << "\n";
  return 0;
}

namespace text2img_detail {

// Images of `prompts` in chunks of 100 (the KV caches of 1,000 guided prompts at once would take gigabytes); chunk
// k draws with seed s.seed + k, so a run's numbers do not depend on anything but its request.
inline tensor<float> generate_in_chunks(text2img_run& r, const std::vector<std::string>& prompts, sampling_options s) {
  constexpr std::size_t chunk = 100;
  tensor<float> all, part;
  const auto n = static_cast<std::int64_t>(prompts.size());
  for (std::size_t b = 0; b < prompts.size(); b += chunk) {
    const std::vector<std::string> some(prompts.begin() + static_cast<std::ptrdiff_t>(b),
                                        prompts.begin() + static_cast<std::ptrdiff_t>(std::min(prompts.size(), b + chunk)));
    sampling_options sc = s;
    sc.seed = s.seed + b / chunk;
    part = generate_images(r, some, sc);
    if (b == 0) {
      shape full = part.shape();
      full[0] = n;
      all.resize(full);
    }
    std::copy(part.begin(), part.end(), all.data() + static_cast<std::int64_t>(b) * (part.numel() / part.dim(0)));
  }
  return all;
}

// Caption accuracy of images generated from `prompts` (shapes captions), as JSON; one summary line on stderr.
// With a `failures` list, the images whose caption is not read back go into it.
inline nlohmann::json shapes_caption_accuracy(text2img_run& r, const std::vector<std::string>& prompts,
                                              const sampling_options& s, const std::string& what,
                                              caption_failures* failures = nullptr) {
  const auto images = generate_in_chunks(r, prompts, s);
  metrics::caption_accuracy acc;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const auto k = static_cast<std::int64_t>(i);
    const auto got = metrics::parse_shapes_image(images, k);
    const auto score = metrics::score_caption(data::parse_caption(prompts[i]), got);
    acc.add(score);
    if (failures != nullptr) failures->add(k, prompts[i], score, got, images, k, nullptr);
  }
  auto j = caption_report(acc, cat("images generated from ", what));
  j["cfg"] = s.cfg_scale;
  j["top_k"] = s.top_k.value_or(0);  // 0: no top-k
  j["top_p"] = s.top_p.value_or(1.0);
  j["temperature"] = s.temperature;
  return j;
}

// The held-out side of a shapes spec with exclude=: `n` captions of scenes that hold an excluded (shape, colour)
// pair, drawn past both splits of the stream; empty when the spec excludes nothing.
inline std::vector<std::string> held_out_captions(const text2img_config& c, std::int64_t n,
                                                  std::vector<std::string>& pairs) {
  if (!data::is_shapes_spec(c.data)) return {};
  data::load_options o;
  o.image_size = static_cast<int>(c.pixel_height);
  o.seed = c.seed;
  std::int64_t n_train = 0, n_test = 0;
  std::uint64_t seed = 0;
  const std::string args = c.data == "shapes" ? "" : c.data.substr(std::string_view("shapes:").size());
  const auto so = data::detail::parse_shapes_spec(args, o, n_train, n_test, seed);
  if (so.excluded.empty()) return {};
  for (const auto& [kind, colour] : so.excluded) pairs.push_back(cat(data::name(colour), "-", data::name(kind)));
  const auto eval = data::held_out_only(so);
  std::vector<std::string> captions;
  for (std::int64_t i = 0; i < n; ++i)
    captions.push_back(data::sample_shapes_scene(seed, static_cast<std::uint64_t>(n_train + n_test + i), eval).caption());
  return captions;
}

// The Fashion-MNIST class each prompt names, checked before anything is generated: a caption that names none, or a
// classifier of other images than the run draws, is refused.
inline std::vector<int> class_labels_for(const text2img_run& r, const std::vector<std::string>& prompts,
                                         feature_extractor& classifier, const std::string& classifier_name) {
  std::vector<int> labels;
  for (const auto& p : prompts) {
    const auto label = data::fashion_mnist_label_of(p);
    check(label.has_value(), [&] {
      return cat("vae eval --classifier: the test caption '", p, "' names no Fashion-MNIST class, so a classifier ",
                 "cannot score its image (class accuracy is for fashion-mnist-captions runs)");
    });
    labels.push_back(*label);
  }
  const auto want = classifier.input_shape();
  const auto& c = r.config;
  check(want.c == c.pixel_channels && want.h == c.pixel_height && want.w == c.pixel_width, [&] {
    return cat("vae eval --classifier ", classifier_name, ": the classifier takes ", want.c, "x", want.h, "x", want.w,
               " images, the run generates ", c.pixel_channels, "x", c.pixel_height, "x", c.pixel_width);
  });
  return labels;
}

// Share of images generated from class captions (`labels`: class_labels_for) that `classifier` labels as the
// caption's class.
inline nlohmann::json class_accuracy(text2img_run& r, const std::vector<std::string>& prompts,
                                     const std::vector<int>& labels, const sampling_options& s,
                                     feature_extractor& classifier, const std::string& classifier_name) {
  const auto images = generate_in_chunks(r, prompts, s);
  metrics::feature_matrix features, probabilities;
  classifier.extract(images, features, probabilities);
  std::int64_t right = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    Eigen::Index best = 0;
    probabilities.row(static_cast<Eigen::Index>(i)).maxCoeff(&best);
    right += static_cast<int>(best) == labels[i];
  }
  const double acc = static_cast<double>(right) / static_cast<double>(labels.size());
  std::cerr << "class accuracy of " << labels.size() << " images generated with cfg " << s.cfg_scale << ": " << acc
            << " (" << right << "/" << labels.size() << ", classifier " << classifier_name << ")\n";
  return {{"images", labels.size()}, {"cfg", s.cfg_scale}, {"accuracy", acc}, {"right", right},
          {"classifier", classifier_name}};
}

}  // namespace text2img_detail

// vae eval of a text2img run: test token NLL; images generated from the first n test captions (guidance cfg),
// scored by caption accuracy on shapes data (and on held-out captions when the data excludes pairs) and by a
// classifier's labels when one is given.
inline nlohmann::json eval_text2img(const std::filesystem::path& dir, const text2img_eval_request& q) {
  using namespace text2img_detail;
  check(q.n >= 0, [&] { return cat("--n must be ≥ 0 (generated images to score; 0 = none), got ", q.n); });
  check(std::isfinite(q.cfg) && q.cfg >= 0,
        [&] { return cat("--cfg must be ≥ 0 (1 = no guidance, 0 = unconditional), got ", q.cfg); });
  check(q.top_p > 0 && q.top_p <= 1, [&] { return cat("--top-p must be in (0, 1], got ", q.top_p); });
  check(std::isfinite(q.temperature) && q.temperature >= 0,
        [&] { return cat("--temperature must be ≥ 0 (0 = greedy), got ", q.temperature); });
  auto r = open_text2img_run(dir);
  check(!q.top_k_given || (q.top_k >= 1 && q.top_k <= r.config.image_vocab), [&] {
    return cat("--top-k must be in [1, ", r.config.image_vocab, "] (the tokenizer run's codebook), got ", q.top_k);
  });
  check(q.failures_dir.empty() || data::is_shapes_spec(r.config.data), [&] {
    return cat("--failures needs a run on shapes captions (the parser reads shapes images only); ", dir.string(),
               " trained on ", r.config.data);
  });
  auto data = load_captioned_data(r.config.data, r.model.decoder().config, r.config.seed);
  std::int64_t h = 0, w = 0;
  const auto test_image = encode_images(r.model.decoder(), data.test_images, h, w);
  const auto test_text = encode_prompts(r.model.tokenizer(), data.test_captions, r.config.text_length,
                                        [](const std::string&) {});
  const double nll = token_nll(r.model.prior(), test_text, test_image);
  nlohmann::json j = {{"run", dir.string()},
                      {"model", "text2img"},
                      {"test_token_nll", nll},
                      {"test_bits_per_token", nll / std::log(2.0)},
                      {"n_test", test_text.dim(0)}};
  const bool shapes = data::is_shapes_spec(r.config.data);
  if (q.n == 0) return j;
  check(shapes || q.classifier != nullptr, [&] {
    return cat("vae eval: generated images of '", r.config.data, "' are scored by a classifier: give --classifier DIR ",
               "(vae train --model classifier --data <the same images>), or --n 0 for the token NLL alone");
  });
  check(q.n <= test_text.dim(0), [&] {
    return cat("--n ", q.n, " is more than the run's ", test_text.dim(0), " test captions");
  });
  std::vector<std::string> prompts(data.test_captions.begin(), data.test_captions.begin() + q.n);
  const auto labels =
      q.classifier ? class_labels_for(r, prompts, *q.classifier, q.classifier_name) : std::vector<int>{};
  sampling_options s;
  s.cfg_scale = q.cfg_given ? q.cfg : text2img_preset_of(r.config.model).guidance;
  s.top_k = q.top_k_given ? q.top_k : std::min(q.top_k, r.config.image_vocab);
  s.top_p = q.top_p_given ? q.top_p : text2img_preset_of(r.config.model).top_p;
  s.temperature = q.temperature;
  s.seed = r.config.seed;
  std::cerr << "sampling with guidance " << s.cfg_scale << ", top-k " << *s.top_k << ", top-p " << *s.top_p
            << ", temperature " << s.temperature << "\n";
  if (shapes) {
    const bool keep = !q.failures_dir.empty();
    caption_failures test_failures, held_failures;
    j["caption_accuracy"] = shapes_caption_accuracy(r, prompts, s, "test captions", keep ? &test_failures : nullptr);
    if (keep) test_failures.write(q.failures_dir, "failures-test");
    std::vector<std::string> pairs;
    const auto held = held_out_captions(r.config, q.n, pairs);
    if (!held.empty()) {
      auto hj = shapes_caption_accuracy(r, held, s, cat("held-out captions (", held.size(), " with an excluded pair)"),
                                        keep ? &held_failures : nullptr);
      if (keep) held_failures.write(q.failures_dir, "failures-held-out");
      hj["excluded_pairs"] = pairs;
      j["held_out_caption_accuracy"] = hj;
    }
  }
  if (q.classifier) j["class_accuracy"] = class_accuracy(r, prompts, labels, s, *q.classifier, q.classifier_name);
  return j;
}

#else  // no sentencepiece: the commands say what the build lacks

inline constexpr const char* no_text2img =
    "text2img: this build has no caption tokenizer (install libsentencepiece-dev and reconfigure with "
    "VAE_WITH_SENTENCEPIECE=ON)";
inline int train_text2img(text2img_config, const std::filesystem::path&, distributed&, bool = false) {
  vae::detail::throw_error(no_text2img);
}
inline int generate_text2img(generate_args, const CLI::App&) { vae::detail::throw_error(no_text2img); }
inline nlohmann::json eval_text2img(const std::filesystem::path&, const text2img_eval_request&) {
  vae::detail::throw_error(no_text2img);
}

#endif

}  // namespace vae::cli
