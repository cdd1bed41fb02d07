// preset_registry: the CLI's one table of named models (mlp-ae ... text2img-seed). Each entry gives the name, a
// one-line description, the kind (which runner family builds it), the architecture it fixes, the flags it accepts
// beyond the common ones and the defaults it gives them. The help of `vae train` / `vae presets`, the refusal of
// unknown names and of flags a preset does not take, the builders (presets.hpp on cpu, device_runner.cu on cuda),
// vae_bench and examples/text_to_image.cpp all read this table. Plain data: nvcc and the examples include it too.
#pragma once
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cli/run_config.hpp"
#include "vae/core/error.hpp"

namespace vae::cli {

// The runner family that builds a preset: presets.hpp's make_runner (and device_runner.cu) dispatch on it.
enum class preset_kind { autoencoder, vae, vq, vqgan, classifier, text2img };

inline std::string_view kind_name(preset_kind k) {
  switch (k) {
    case preset_kind::autoencoder: return "autoencoder";
    case preset_kind::vae: return "vae";
    case preset_kind::vq: return "vq-vae";
    case preset_kind::vqgan: return "vqgan";
    case preset_kind::classifier: return "classifier";
    case preset_kind::text2img: return "text2img";
  }
  return "?";
}

// The network of an autoencoder / VAE preset: MLP on flattened pixels, or the convolutional pair.
enum class dense_net { mlp, conv };

// The taming VQGAN layout a vqgan preset fixes; the sizes that follow from the image (resolution, attention at the
// token grid) are derived at build time from the padded side.
struct vqgan_layout {
  std::vector<std::int64_t> ch_mult{1, 2, 2};  // f = 2^(levels - 1)
  std::int64_t num_res_blocks = 1;
  std::int64_t attn_resolution = 8;  // 0: attention at the token grid (side / f)
  std::int64_t z_channels = 64;
  std::int64_t disc_ndf = 32, disc_layers = 2;  // the PatchGAN
  std::int64_t factor() const { return std::int64_t{1} << (ch_mult.size() - 1); }
  // The smallest padded image side the layout takes (f = 4: 8; f = 8: 32, the side at which its tokens are 4×4).
  std::int64_t min_side() const { return factor() <= 4 ? 8 : 4 * factor(); }
  std::int64_t attention_at(std::int64_t side) const { return attn_resolution > 0 ? attn_resolution : side / factor(); }
};

// What a text2img preset's VQ run must give: a grid × grid token grid of `codebook` codes (0: any), made by vq_preset;
// and the guidance scale and nucleus vae generate / vae eval sample its runs with when --cfg / --top-p are not given.
struct text2img_layout {
  std::int64_t grid = 0, codebook = 0;
  std::string_view vq_preset;
  double guidance = 3;
  double top_p = 0.95;  // the nucleus of vae generate / vae eval without --top-p
};

// A flag whose default the preset changes (the value as typed on the command line), or one it requires.
struct flag_default {
  std::string_view flag, value;
};
struct required_flag {
  std::string_view flag, why;  // why: "trains on your own images: give --data folder:DIR (or npy:FILE.npy)"
};

struct preset {
  std::string_view name, description;
  preset_kind kind;
  std::vector<std::string_view> options{};   // the flags it accepts beyond common_flags(kind)
  std::vector<flag_default> defaults{};      // its defaults where they differ from the CLI's
  std::vector<required_flag> required{};     // flags it cannot run without
  bool on_cuda = false;                      // `--device cuda` builds it (device_runner.cu)
  dense_net net = dense_net::mlp;            // autoencoder / vae
  std::int64_t codes = 0;                    // vq: > 0 fixes the codebook size (then --codebook-size is not accepted)
  std::int64_t vq_downsamplings = 2;         // vq: the token grid is the image side / 2^vq_downsamplings
  vqgan_layout vqgan{};                      // vqgan
  text2img_layout text2img{};                // text2img

  bool accepts(std::string_view flag) const;
  // A vq or vqgan preset's image side over its token grid's side.
  std::int64_t token_factor() const {
    return kind == preset_kind::vqgan ? vqgan.factor() : std::int64_t{1} << vq_downsamplings;
  }
  // The preset's default for `flag` as typed ("2e-4"), or empty.
  std::string_view default_of(std::string_view flag) const {
    for (const auto& d : defaults)
      if (d.flag == flag) return d.value;
    return {};
  }
};

namespace registry_detail {
// Flags every image preset takes (the data, the loop, where it runs); text2img takes the loop's, the data's and
// --threads (it runs on the cpu, on the whole images of its VQ run).
inline const std::vector<std::string_view> image_common = {
    "--model",  "--config",     "--data",     "--epochs", "--batch",   "--global-batch", "--lr",
    "--warmup-steps", "--lr-decay", "--seed", "--out",    "--resume",  "--threads",      "--limit",
    "--device", "--image-size", "--channels", "--verbose", "--help"};
inline const std::vector<std::string_view> text2img_common = {"--model", "--data",    "--epochs",  "--batch", "--lr",
                                                              "--seed",  "--out",     "--threads", "--verbose", "--help"};
inline const std::vector<std::string_view> vq_flags = {"--quantizer", "--codebook-size", "--code-dim", "--no-restart",
                                                       "--no-kmeans", "--restart-draw"};
inline std::vector<std::string_view> join(std::vector<std::string_view> a, std::initializer_list<std::string_view> b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
inline const std::vector<std::string_view> vqgan_flags =
    join(vq_flags, {"--ch", "--disc-start", "--disc-weight", "--gan-loss", "--rec-loss", "--reuse-recon",
                    "--lecam-weight", "--perceptual", "--perceptual-weight"});
inline const std::vector<std::string_view> text2img_flags = {"--tokenizer-run", "--caption-dropout", "--n-layer",
                                                             "--n-head", "--n-embd", "--warmup-steps", "--lr-decay",
                                                             "--grad-clip"};
// vqgan.py's learning rate and batch: the CLI's own defaults are the VAEs'.
inline std::vector<flag_default> vqgan_defaults(std::initializer_list<flag_default> more) {
  std::vector<flag_default> d(more);
  if (std::none_of(d.begin(), d.end(), [](const flag_default& f) { return f.flag == "--lr"; }))
    d.insert(d.begin(), {"--lr", "2e-4"});
  return d;
}
// The taming layout on the token grid: attention at the tokens, taming's 3-layer PatchGAN.
inline vqgan_layout at_tokens(vqgan_layout l) {
  l.attn_resolution = 0;
  l.disc_layers = 3;
  return l;
}
}  // namespace registry_detail

inline std::span<const std::string_view> common_flags(preset_kind k) {
  return k == preset_kind::text2img ? registry_detail::text2img_common : registry_detail::image_common;
}
inline bool preset::accepts(std::string_view flag) const {
  const auto common = common_flags(kind);
  return std::ranges::find(common, flag) != common.end() || std::ranges::find(options, flag) != options.end();
}

// The table. Adding a preset: one entry here (its kind's builder reads the layout fields) and its test
// (tests/tools/preset_registry.cpp walks every entry; docs/CONTRIBUTING.md, "Adding a preset").
inline const std::vector<preset>& presets() {
  using namespace registry_detail;
  static const std::vector<preset> table = {
      {.name = "mlp-ae", .description = "MLP autoencoder 784-512-256-latent (binary cross-entropy on pixels)",
       .kind = preset_kind::autoencoder, .options = {"--latent"}, .on_cuda = true, .net = dense_net::mlp},
      {.name = "conv-ae", .description = "convolutional autoencoder 32-64 channels, optional residual blocks",
       .kind = preset_kind::autoencoder, .options = {"--latent", "--res-blocks"}, .on_cuda = true,
       .net = dense_net::conv},
      {.name = "mlp-vae", .description = "vae_mlp.py: MLP VAE, Bernoulli likelihood on binarised pixels",
       .kind = preset_kind::vae, .options = {"--latent", "--beta"}, .on_cuda = true, .net = dense_net::mlp},
      {.name = "conv-vae", .description = "vae_conv.py: convolutional VAE, Bernoulli likelihood, optional residual blocks",
       .kind = preset_kind::vae, .options = {"--latent", "--beta", "--res-blocks"}, .on_cuda = true,
       .net = dense_net::conv},
      {.name = "vq-vae", .description = "vqvae.py: ResNet encoder/decoder, K codes of D on an (H/4)x(W/4) grid",
       .kind = preset_kind::vq, .options = vq_flags, .on_cuda = true},
      {.name = "vq-vae-2048", .description = "vq-vae with a fixed codebook of 2048 codes",
       .kind = preset_kind::vq,
       .options = {"--quantizer", "--code-dim", "--no-restart", "--no-kmeans", "--restart-draw"},
       .on_cuda = true, .codes = 2048},
      {.name = "vq-vae-shapes",
       .description = "64x64 RGB captioned shapes, vq-vae's ResNet: 16x16 tokens of 1024 codes, as vqgan-shapes",
       .kind = preset_kind::vq, .options = vq_flags,
       // no normalisation and no attention: a patch's code depends on the pixels around it only, so black is one code
       // and a colour's interior another wherever they lie, which the prior over these tokens needs
       // (docs/guide-text-to-image.md, "A tokenizer whose codes are local")
       .defaults = {{"--data", "shapes:size=64,n=8000,test=200"}, {"--codebook-size", "1024"}, {"--epochs", "12"},
                    {"--batch", "32"}},
       .on_cuda = true},
      {.name = "vq-vae-shapes-f8",
       .description = "64x64 RGB captioned shapes, vq-vae's ResNet, f = 8: 8x8 tokens of 1024 codes (text2img-shapes' tokenizer)",
       .kind = preset_kind::vq, .options = vq_flags,
       // vq-vae-shapes with a third downsampling: a quarter of the tokens for the prior to draw, each object 2-4
       // tokens wide (docs/guide-text-to-image.md, "Fewer tokens per object")
       .defaults = {{"--data", "shapes:size=64,n=8000,test=200"}, {"--codebook-size", "1024"}, {"--epochs", "12"},
                    {"--batch", "32"}},
       .on_cuda = true, .vq_downsamplings = 3},
      {.name = "vqgan", .description = "vqgan.py: taming VQGAN (ch 32, f = 4, attention at 8x8, z 64) + 2-layer PatchGAN",
       .kind = preset_kind::vqgan, .options = vqgan_flags,
       .defaults = vqgan_defaults({{"--batch", "64"},
                                   // vqgan.py's 0.8 made both its and our reconstructions worse once the
                                   // discriminator started (test MSE and Fréchet distance up); 0.1 made ours better
                                   // (docs/vqgan-training.md). --disc-weight 0.8 is vqgan.py exactly.
                                   {"--disc-weight", "0.1"}})},
      {.name = "vqgan-shapes", .description = "64x64 RGB captioned shapes, f = 4, K 1024, sized for 30 min on 2 cores",
       .kind = preset_kind::vqgan, .options = vqgan_flags,
       .defaults = vqgan_defaults({{"--data", "shapes:size=64,n=8000,test=200"}, {"--channels", "3"},
                                   {"--codebook-size", "1024"}, {"--epochs", "4"},
                                   {"--disc-start", "500"},  // halfway through epoch 1
                                   // flat-colour scenes: at taming's 0.8 the PatchGAN's gradient textured the
                                   // interiors and rounded small squares (docs/vqgan-training.md)
                                   {"--disc-weight", "0.1"},
                                   {"--lr", "3e-4"}, {"--warmup-steps", "100"}, {"--lr-decay", "cosine"},
                                   // as many images a second as batch 16 and twice the steps: small squares keep
                                   // their corners (docs/vqgan-training.md)
                                   {"--batch", "8"}}),
       .vqgan = at_tokens({})},
      {.name = "vqgan-seed", .description = "128x128 RGB shapes, f = 4: 32x32 tokens of 2048 codes (text2img-seed's tokenizer)",
       .kind = preset_kind::vqgan, .options = vqgan_flags,
       .defaults = vqgan_defaults({{"--data", "shapes:size=128,n=2000,test=200"}, {"--channels", "3"},
                                   {"--codebook-size", "2048"}, {"--epochs", "2"},
                                   {"--disc-start", "250"},  // the first step of epoch 2
                                   {"--batch", "8"}}),
       .vqgan = at_tokens({})},
      {.name = "vqgan-f8-2048", .description = "your images at 256x256 RGB, taming's f = 8 (4 levels, 2 res blocks), K 2048",
       .kind = preset_kind::vqgan, .options = vqgan_flags,
       .defaults = vqgan_defaults({{"--image-size", "256"}, {"--channels", "3"}, {"--codebook-size", "2048"},
                                   {"--ch", "128"}, {"--batch", "8"}}),
       .required = {{"--data", "trains on your own images: give --data folder:DIR (or npy:FILE.npy)"}},
       .vqgan = {.ch_mult = {1, 2, 2, 4}, .num_res_blocks = 2, .attn_resolution = 0, .z_channels = 256,
                 .disc_ndf = 64, .disc_layers = 3}},
      {.name = "classifier", .description = "image classifier (features for vae eval --fid); needs labelled data",
       .kind = preset_kind::classifier},
      {.name = "text2img", .description = "GPT prior over [caption ; image tokens] of any vq-vae / vqgan run",
       .kind = preset_kind::text2img, .options = text2img_flags,
       .defaults = {{"--data", "fashion-mnist-captions"}, {"--epochs", "5"}, {"--batch", "64"}, {"--lr", "3e-4"},
                    {"--n-layer", "4"}, {"--n-head", "4"}, {"--n-embd", "128"}}},
      {.name = "text2img-shapes", .description = "64x64 shapes over a vq-vae-shapes-f8 run: 8x8 tokens of 1024 codes",
       .kind = preset_kind::text2img, .options = text2img_flags,
       // Three (shape, colour) pairs are never drawn in training, so that vae eval can ask for scenes never seen.
       // 48,000 scenes seen 9 times: 16,000 seen 15 times overfitted (test NLL flat from the 12th pass) and drew
       // fewer captions (docs/guide-text-to-image.md, "Fewer tokens per object").
       .defaults = {{"--data", "shapes:size=64,n=48000,test=1000,exclude=red-triangle+blue-circle+green-square"},
                    // a peak 1e-3 warmed up and decayed, with clipping, gave a lower NLL and better captions than
                    // 3e-4 constant (docs/guide-text-to-image.md, "Measured runs")
                    {"--epochs", "9"}, {"--batch", "32"}, {"--lr", "1e-3"}, {"--warmup-steps", "200"},
                    {"--lr-decay", "cosine"}, {"--grad-clip", "1"}, {"--n-layer", "4"}, {"--n-head", "4"},
                    {"--n-embd", "128"}},
       // guidance 3 drew extra objects and fragments; 1.5 and a nucleus of 0.8 read back the most captions
       // (docs/guide-text-to-image.md, "Sampling the shapes")
       .text2img = {8, 1024, "vq-vae-shapes-f8", 1.5, 0.8}},
      {.name = "text2img-seed", .description = "128x128 shapes over a vqgan-seed run: 32x32 tokens of 2048 codes, 8 layers d 512",
       .kind = preset_kind::text2img, .options = text2img_flags,
       .defaults = {{"--data", "shapes:size=128,n=10000,test=1000"}, {"--epochs", "10"}, {"--batch", "16"},
                    {"--lr", "3e-4"}, {"--n-layer", "8"}, {"--n-head", "8"}, {"--n-embd", "512"}},
       .text2img = {32, 2048, "vqgan-seed"}},
  };
  return table;
}

// The entry named `name`, or null.
inline const preset* find_preset(std::string_view name) {
  for (const auto& p : presets())
    if (p.name == name) return &p;
  return nullptr;
}

namespace registry_detail {
inline std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}
// "a, b or c" (last = " or "), "a b c" (sep = last = " ").
inline std::string or_list(std::span<const std::string_view> v, std::string_view last = " or ",
                           std::string_view sep = ", ") {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += cat(i == 0 ? "" : i + 1 == v.size() ? last : sep, v[i]);
  return s;
}
}  // namespace registry_detail

// Every preset name, in table order.
inline std::vector<std::string_view> preset_names() {
  std::vector<std::string_view> v;
  for (const auto& p : presets()) v.push_back(p.name);
  return v;
}

// The closest name within 3 edits ("vqgan-shape" → "vqgan-shapes"), or empty.
inline std::string_view nearest_preset(std::string_view name) {
  std::string_view best;
  std::size_t best_d = 4;
  for (const auto& p : presets())
    if (const auto d = registry_detail::edit_distance(name, p.name); d < best_d) best = p.name, best_d = d;
  return best;
}

// The entry named `name`; an unknown name is refused listing the known ones (and the nearest).
inline const preset& preset_named(std::string_view name) {
  if (const auto* p = find_preset(name)) return *p;
  const auto near = nearest_preset(name);
  vae::detail::throw_error(cat("unknown model '", name, "'", near.empty() ? "" : cat(" (did you mean ", near, "?)"),
                               ": choose ", registry_detail::or_list(preset_names()),
                               " (vae presets describes each)"));
}

inline bool is_kind(const std::string& m, preset_kind k) {
  const auto* p = find_preset(m);
  return p != nullptr && p->kind == k;
}
inline bool known_model(const std::string& m) { return find_preset(m) != nullptr; }
inline void check_known_model(const std::string& m) { (void)preset_named(m); }
inline bool is_vae(const std::string& m) { return is_kind(m, preset_kind::vae); }
inline bool is_vq(const std::string& m) { return is_kind(m, preset_kind::vq); }
inline bool is_vqgan(const std::string& m) { return is_kind(m, preset_kind::vqgan); }
inline bool is_classifier(const std::string& m) { return is_kind(m, preset_kind::classifier); }
inline bool is_text2img(const std::string& m) { return is_kind(m, preset_kind::text2img); }

// The presets that accept `flag`, for the messages: "conv-ae and conv-vae".
inline std::vector<std::string_view> presets_accepting(std::string_view flag) {
  std::vector<std::string_view> v;
  for (const auto& p : presets())
    if (p.accepts(flag)) v.push_back(p.name);
  return v;
}

// Refuses a flag given on the command line that preset `p` would ignore, naming the preset, the presets that take
// the flag and the flags `p` takes. `value`: what was given ("2"), shown as "--res-blocks (2)"; empty for switches.
inline void check_accepts(const preset& p, std::string_view flag, std::string_view value = {}) {
  if (p.accepts(flag)) return;
  const auto takers = presets_accepting(flag);
  vae::detail::throw_error(cat(
      flag, value.empty() ? "" : cat(" (", value, ")"), " applies to ",
      takers.empty() ? std::string("no preset") : registry_detail::or_list(takers, " and "), " only, not to ", p.name,
      p.kind == preset_kind::vq && flag == "--res-blocks" ? " (its ResNet encoder and decoder have a fixed 2 residual blocks)"
                                                          : "",
      "; ", p.name, " takes ", p.options.empty() ? std::string("no model flags") : registry_detail::or_list(p.options, " and "),
      " beside the common ones (vae presets lists every preset's flags)"));
}

// Refuses a preset run without a flag it requires (vqgan-f8-2048 without --data).
inline void check_required(const preset& p, const std::function<bool(std::string_view)>& given) {
  for (const auto& r : p.required)
    check(given(r.flag), [&] { return cat("--model ", p.name, " ", r.why); });
}

// A preset's default as a value of type T (the table holds it as typed on the command line).
template <class T>
T parse_default(const preset& p, std::string_view flag, T fallback) {
  const auto s = p.default_of(flag);
  if (s.empty()) return fallback;
  if constexpr (std::is_same_v<T, std::string>) {
    return std::string(s);
  } else {
    T v{};
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    check(ec == std::errc() && end == s.data() + s.size(),
          [&] { return cat("preset ", p.name, ": its default ", flag, " '", s, "' does not parse as that flag's value"); });
    return v;
  }
}

// The preset's defaults on a run config, for the flags not `given` on the command line. --global-batch counts as
// giving --batch (the caller's `given` says so).
inline void apply_preset_defaults(const preset& p, run_config& c, const std::function<bool(std::string_view)>& given) {
  auto set = [&](std::string_view flag, auto& field) {
    if (!given(flag)) field = parse_default(p, flag, field);
  };
  set("--data", c.data);
  set("--epochs", c.epochs);
  set("--batch", c.batch);
  set("--lr", c.lr);
  set("--warmup-steps", c.warmup_steps);
  set("--lr-decay", c.lr_decay);
  set("--image-size", c.image_size);
  set("--channels", c.channels);
  set("--codebook-size", c.codebook_size);
  set("--ch", c.ch);
  set("--disc-start", c.disc_start);
  set("--disc-weight", c.disc_weight);
}

// The `vae presets` listing: one block per preset (name, kind, description, its flags and its defaults).
inline std::string presets_help() {
  std::string s;
  for (const auto& p : presets()) {
    s += cat(p.name, std::string(p.name.size() < 16 ? 16 - p.name.size() : 1, ' '), "[", kind_name(p.kind),
             p.on_cuda ? ", cpu|cuda" : ", cpu", "] ", p.description, "\n");
    if (!p.options.empty()) s += cat("                flags: ", registry_detail::or_list(p.options, " ", " "), "\n");
    if (!p.defaults.empty()) {
      s += "                defaults:";
      for (const auto& d : p.defaults) s += cat(" ", d.flag, " ", d.value);
      s += "\n";
    }
    for (const auto& r : p.required) s += cat("                needs ", r.flag, ": ", r.why, "\n");
  }
  s += cat("common flags of the image presets: ", registry_detail::or_list(registry_detail::image_common, " ", " "), "\n",
           "common flags of the text2img presets: ", registry_detail::or_list(registry_detail::text2img_common, " ", " "),
           "\n");
  return s;
}

// "mlp-ae, conv-ae, ...": the presets `--device cuda` builds.
inline std::string preset_choices_on_cuda() {
  std::vector<std::string_view> v;
  for (const auto& p : presets())
    if (p.on_cuda) v.push_back(p.name);
  return registry_detail::or_list(v, ", ");
}

// The --model help: "mlp-ae | conv-ae | ..." (the names of `kinds`, or all).
inline std::string preset_choices(std::initializer_list<preset_kind> kinds = {}) {
  std::string s;
  for (const auto& p : presets())
    if (kinds.size() == 0 || std::ranges::find(kinds, p.kind) != kinds.end()) s += cat(s.empty() ? "" : " | ", p.name);
  return s;
}

}  // namespace vae::cli
