// run_config: everything that defines a training run; written to DIR/config.json and read back by eval/resume.
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <utility>

#include "vae/core/error.hpp"
#include "vae/io/atomic_file.hpp"
#include "vae/quantizers/quantizer.hpp"

namespace vae::cli {

struct run_config {
  std::string model = "mlp-vae";  // a preset of cli/preset_registry.hpp (vae presets lists them)
  std::string data = "fashion-mnist";
  int epochs = 5;
  std::int64_t batch = 128;
  double lr = 1e-3;
  std::int64_t warmup_steps = 0;  // linear learning-rate warm-up over the first steps (0: none)
  std::string lr_decay = "none";  // none | cosine (to 0 at the run's last step)
  std::uint64_t seed = 0;
  std::int64_t image_size = 0;   // > 0: images are centre-cropped and resized to this square size (0 = keep)
  std::int64_t channels = 0;     // 1 or 3: convert images to this many channels (0 = keep)
  bool binarize = true;          // Bernoulli models binarise pixels at > 0.5 like the references
  std::int64_t latent = 32;
  double beta = 1.0;             // KL weight
  std::int64_t res_blocks = 0;   // conv-ae / conv-vae: residual blocks after the encoder's, before the decoder's convs
  std::string quantizer = "ema";  // vq models: vq | ema | fsq | gumbel | rvq
  std::int64_t codebook_size = 512;
  std::int64_t code_dim = 64;
  bool dead_code_restart = true;
  std::int64_t restart_after_steps = 100;  // a code unused this many steps is re-seeded (with dead_code_restart)
  bool kmeans_init = true;                 // vq models: k-means codebook initialisation on the first batch
  std::string restart_draw = "uniform";    // vq models: which row a dead code restarts from (uniform | error)
  std::int64_t threads = 0;  // 0 = OpenMP default
  std::int64_t limit = 0;    // train on the first `limit` training images only (0 = all)
  std::string device = "cpu";
  std::int64_t classes = 0;  // classifier: number of classes (set from the training labels)
  // vqgan (shared/reference/vqgan.py's defaults)
  std::int64_t ch = 32;               // base channels of the taming encoder/decoder
  std::int64_t disc_start = 1500;     // the step from which the discriminator's terms count (disc_factor 1)
  double disc_weight = 0.8;           // × the adaptive weight λ
  std::string gan_loss = "hinge";     // hinge | non-saturating
  std::string rec_loss = "l1";        // l1 | l2
  bool reuse_recon = false;           // D step on the AE step's reconstruction instead of a fresh one
  double lecam_weight = 0.0;          // LeCam regularisation of the D loss (0: off)
  std::string perceptual = "none";    // none | lpips:FILE | classifier:RUN (cli/vqgan_perceptual.hpp)
  double perceptual_weight = 1.0;     // × the perceptual loss (taming's perceptual_weight)

  nlohmann::json to_json() const {
    return {{"model", model}, {"data", data}, {"epochs", epochs}, {"batch", batch}, {"lr", lr},
            {"warmup_steps", warmup_steps}, {"lr_decay", lr_decay}, {"seed", seed}, {"image_size", image_size}, {"channels", channels}, {"binarize", binarize}, {"latent", latent},
            {"beta", beta}, {"res_blocks", res_blocks}, {"quantizer", quantizer}, {"codebook_size", codebook_size},
            {"code_dim", code_dim}, {"dead_code_restart", dead_code_restart},
            {"restart_after_steps", restart_after_steps}, {"kmeans_init", kmeans_init},
            {"restart_draw", restart_draw}, {"threads", threads}, {"limit", limit},
            {"device", device}, {"classes", classes}, {"ch", ch}, {"disc_start", disc_start},
            {"disc_weight", disc_weight}, {"gan_loss", gan_loss}, {"rec_loss", rec_loss}, {"reuse_recon", reuse_recon},
            {"lecam_weight", lecam_weight}, {"perceptual", perceptual}, {"perceptual_weight", perceptual_weight}};
  }
  // Keys missing from `j` keep their defaults, so a config file may set only what it changes.
  static run_config from_json(const nlohmann::json& j) { return from_json(j, run_config()); }
  static run_config from_json(const nlohmann::json& j, run_config c) {
    // Numbers must fit their field: nlohmann's get<int>() of 1e70 (or of -1 into an unsigned) would be undefined
    // or wrap (fuzz/config.cpp found the first).
    auto get = [&](const char* key, auto& field) {
      if (!j.contains(key)) return;
      using F = std::decay_t<decltype(field)>;
      const auto& v = j.at(key);
      if constexpr (std::is_integral_v<F> && !std::is_same_v<F, bool>) {
        const bool fits = v.is_number_unsigned()  ? std::in_range<F>(v.get<std::uint64_t>())
                          : v.is_number_integer() ? std::in_range<F>(v.get<std::int64_t>())
                                                  : false;
        check(fits, [&] {
          return cat("'", key, "' must be a whole number in [", std::numeric_limits<F>::min(), ", ",
                     std::numeric_limits<F>::max(), "], got ", v.dump());
        });
        field = v.is_number_unsigned() ? static_cast<F>(v.get<std::uint64_t>()) : static_cast<F>(v.get<std::int64_t>());
      } else {
        field = v.get<F>();
      }
    };
    get("model", c.model); get("data", c.data); get("epochs", c.epochs); get("batch", c.batch); get("lr", c.lr);
    get("warmup_steps", c.warmup_steps); get("lr_decay", c.lr_decay); get("seed", c.seed); get("image_size", c.image_size); get("channels", c.channels); get("binarize", c.binarize);
    get("latent", c.latent); get("beta", c.beta); get("res_blocks", c.res_blocks);
    get("quantizer", c.quantizer);
    get("codebook_size", c.codebook_size); get("code_dim", c.code_dim);
    get("dead_code_restart", c.dead_code_restart); get("restart_after_steps", c.restart_after_steps);
    get("kmeans_init", c.kmeans_init); get("restart_draw", c.restart_draw);
    get("threads", c.threads); get("limit", c.limit); get("device", c.device);
    get("classes", c.classes);
    get("ch", c.ch); get("disc_start", c.disc_start); get("disc_weight", c.disc_weight); get("gan_loss", c.gan_loss);
    get("rec_loss", c.rec_loss); get("reuse_recon", c.reuse_recon); get("lecam_weight", c.lecam_weight);
    get("perceptual", c.perceptual); get("perceptual_weight", c.perceptual_weight);
    return c;
  }

  static run_config load(const std::filesystem::path& file) { return load(file, run_config()); }
  static run_config load(const std::filesystem::path& file, run_config defaults) {
    std::ifstream in(file);
    check(static_cast<bool>(in), [&] { return cat("cannot read config '", file.string(), "'"); });
    try {
      return from_json(nlohmann::json::parse(in), defaults);
    } catch (const nlohmann::json::exception& e) {
      vae::detail::throw_error(cat("config '", file.string(), "' is not valid: ", e.what()));
    } catch (const vae::error& e) {
      vae::detail::throw_error(cat("config '", file.string(), "' is not valid: ", e.message()));
    }
  }
  void save(const std::filesystem::path& file) const { io::write_text_atomically(file, to_json().dump(2) + "\n"); }
};

// --restart-draw as the quantizer's option: uniform | error, anything else refused naming both.
// --restart-draw error with --no-restart would draw nothing: refused rather than written to config.json unused.
inline restart_draw restart_draw_of(const run_config& c) {
  if (c.restart_draw == "uniform") return restart_draw::uniform;
  if (c.restart_draw == "error") {
    check(c.dead_code_restart, [] {
      return std::string("--restart-draw error chooses how dead codes restart, but --no-restart turns restarts off: "
                         "give one or the other");
    });
    return restart_draw::squared_error;
  }
  vae::detail::throw_error(cat("--restart-draw '", c.restart_draw, "': choose uniform (any row of the batch alike) or ",
                               "error (a row with probability proportional to its squared distance to its code)"));
}

}  // namespace vae::cli
