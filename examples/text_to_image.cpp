// Text to image with the C++ API: loads a text2img run (vae train --model text2img-shapes, or text2img over a vq-vae
// or vqgan run) as a vae::TextToImage — its caption tokenizer, its GPTPrior and the decoding half of the VQ model it
// was trained on — and writes the images of a prompt as one PNG grid, sampled with the run's preset's guidance.
//   example_text_to_image RUN_DIR ["a large red circle"] [OUT.png] [N]
//   example_text_to_image --tiny   (no run: makes a small untrained one in a temporary folder, then the same steps)
// The one header beyond the library's: the CLI's preset registry (tools/cli/preset_registry.hpp, plain data), since a
// run's config.json names its preset and only the registry knows which layout that name stands for (and which
// guidance its runs sample with); copying the layouts here would drift from what `vae train` built.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>
#include <vae/data/shapes.hpp>
#include <vae/models/text_to_image.hpp>
#include <vae/vae.hpp>

#include "cli/preset_registry.hpp"

namespace fs = std::filesystem;

// What either kind of VQ run decodes with: tokens [N, h, w] → images [N, C, H, W] in [0, 1], its parameters in one
// store under the run's own names, so they come straight from its model.safetensors (which also holds the encoder's,
// left aside).
class TokenDecoderBase {
 public:
  explicit TokenDecoderBase(const nlohmann::json& vq) {
    codebook_.shape = {vq.at("codebook_size").get<std::int64_t>(), vq.at("code_dim").get<std::int64_t>()};
    codebook_.init = vae::parameter_init::normal(0.0, 1.0);
  }
  virtual ~TokenDecoderBase() = default;
  virtual void decode_tokens(const vae::tensor<std::int32_t>& tokens, vae::tensor<float>& images) = 0;

  void load(const fs::path& file) {
    const auto f = vae::io::safetensors_file::load(file);
    for (const auto& e : store_.entries()) {
      const auto v = f.at(e.name).values<float>();
      vae::check(static_cast<std::int64_t>(v.size()) == e.shape.numel(), [&] {
        return vae::cat(file.string(), ": '", e.name, "' does not have the preset's shape ", e.shape);
      });
      std::copy(v.begin(), v.end(), store_.values() + e.offset);
    }
  }
  void save(const fs::path& file) const { vae::save_parameters(file, store_); }

 protected:
  // tokens [N, h, w] → their codes [N, D, h, w], the decoder's input.
  const vae::tensor<float>& codes_of(const vae::tensor<std::int32_t>& tokens) {
    const std::int64_t n = tokens.dim(0), th = tokens.dim(1), tw = tokens.dim(2), d = codebook_.shape[1];
    zq_.resize({n, d, th, tw});
    for (std::int64_t b = 0; b < n; ++b)
      for (std::int64_t c = 0; c < d; ++c)
        for (std::int64_t p = 0; p < th * tw; ++p)
          zq_[(b * d + c) * th * tw + p] = codebook_.value[tokens[b * th * tw + p] * d + c];
    return zq_;
  }
  // The preset a VQ run's config.json names, if it is of kind `kind`.
  static const vae::cli::preset& preset_of(const nlohmann::json& vq, vae::cli::preset_kind kind) {
    const auto model = vq.at("model").get<std::string>();
    const auto* p = vae::cli::find_preset(model);
    vae::check(p != nullptr && p->kind == kind, [&] {
      return vae::cat("this decoder draws with the runs of the ", vae::cli::kind_name(kind), " presets (",
                      vae::cli::preset_choices({kind}), "), not ", model);
    });
    return *p;
  }
  vae::parameter<float> codebook_;  // named by each decoder's visit_parameters, as its run names it
  vae::parameter_store<float> store_;
  vae::tensor<float> zq_;
};

// The decoding half of a vq-vae run (vq-vae, vq-vae-2048, vq-vae-shapes, vq-vae-shapes-f8): codebook lookup, then
// vqvae.py's ResNet decoder, whose output is already in pixel units.
class ResNetTokenDecoder : public TokenDecoderBase {
 public:
  ResNetTokenDecoder(const nlohmann::json& vq, std::int64_t channels, std::int64_t height, std::int64_t width)
      : TokenDecoderBase(vq), h_(height), w_(width), decoder_(decoder_options(vq, channels)) {
    const auto quantizer = vq.value("quantizer", std::string("ema"));
    vae::check(quantizer == "ema" || quantizer == "vq", [&] {
      return vae::cat("this example decodes tokens through one codebook (--quantizer ema or vq), not ", quantizer);
    });
    vae::generator init(0);
    store_.attach(*this, init);
  }
  ResNetTokenDecoder(const ResNetTokenDecoder&) = delete;  // the store points into the layers: held by unique_ptr

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    visit(prefix + "codebook.weight", codebook_);
    decoder_.visit_parameters(prefix + "dec.", visit);
  }

  void decode_tokens(const vae::tensor<std::int32_t>& tokens, vae::tensor<float>& images) override {
    const auto& y = decoder_.forward(codes_of(tokens));
    vae::check(y.dim(2) == h_ && y.dim(3) == w_, [&] {
      return vae::cat("the decoder draws ", y.dim(2), "x", y.dim(3), " images, the run's are ", h_, "x", w_);
    });
    images.resize(y.shape());
    for (std::int64_t i = 0; i < y.numel(); ++i) images[i] = std::clamp(y[i], 0.0f, 1.0f);
  }

 private:
  // As tools/cli/vq_presets.hpp builds it: the ResNet's defaults, the run's code size, the preset's upsamplings.
  static vae::resnet_decoder_options decoder_options(const nlohmann::json& vq, std::int64_t channels) {
    vae::resnet_decoder_options o;
    o.code_dim = vq.at("code_dim").get<std::int64_t>();
    o.out_channels = channels;
    o.upsamplings = preset_of(vq, vae::cli::preset_kind::vq).vq_downsamplings;
    return o;
  }

  std::int64_t h_, w_;
  vae::ResNetDecoder<float> decoder_;
};

// The decoding half of a vqgan run (any vqgan preset of the registry): codebook lookup, post_quant_conv, the taming
// decoder, then pixels from [-1, 1] to [0, 1] and the image cut from the power-of-two side it was padded to.
class VQGANTokenDecoder : public TokenDecoderBase {
 public:
  VQGANTokenDecoder(const nlohmann::json& vq, std::int64_t channels, std::int64_t height, std::int64_t width)
      : TokenDecoderBase(vq), h_(height), w_(width), side_(padded_side(std::max(height, width))), layout_(layout_of(vq)),
        post_quant_conv_(vq.at("code_dim").get<std::int64_t>(), layout_.z_channels, 1),
        decoder_(decoder_options(vq, layout_, channels, side_)) {
    vae::generator init(0);
    store_.attach(*this, init);
  }
  VQGANTokenDecoder(const VQGANTokenDecoder&) = delete;  // the store points into the layers: held by unique_ptr

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    visit(prefix + "quantize.embedding.weight", codebook_);
    post_quant_conv_.visit_parameters(prefix + "post_quant_conv.", visit);
    decoder_.visit_parameters(prefix + "decoder.", visit);
  }

  void decode_tokens(const vae::tensor<std::int32_t>& tokens, vae::tensor<float>& images) override {
    const auto& y = decoder_.forward(post_quant_conv_.forward(codes_of(tokens)));
    const std::int64_t n = tokens.dim(0);
    const std::int64_t ch = y.dim(1), top = (side_ - h_) / 2, left = (side_ - w_) / 2;
    images.resize({n, ch, h_, w_});
    for (std::int64_t p = 0; p < n * ch; ++p)
      for (std::int64_t r = 0; r < h_; ++r)
        for (std::int64_t c = 0; c < w_; ++c)
          images[(p * h_ + r) * w_ + c] = 0.5f * (y[(p * side_ + top + r) * side_ + left + c] + 1.0f);
  }

 private:
  static std::int64_t padded_side(std::int64_t s) {
    std::int64_t side = 1;
    while (side < s) side *= 2;
    return side;
  }
  // The taming layout of the run's preset, as `vae train` built it (tools/cli/vqgan_presets.hpp reads the same entry).
  static vae::cli::vqgan_layout layout_of(const nlohmann::json& vq) {
    return preset_of(vq, vae::cli::preset_kind::vqgan).vqgan;
  }
  static vae::vqgan_decoder_options decoder_options(const nlohmann::json& vq, const vae::cli::vqgan_layout& l,
                                                    std::int64_t channels, std::int64_t side) {
    vae::vqgan_decoder_options o;
    o.ch = vq.value("ch", std::int64_t{32});
    o.ch_mult = l.ch_mult;
    o.num_res_blocks = l.num_res_blocks;
    o.attn_resolutions = {l.attention_at(side)};
    o.resolution = side;
    o.z_channels = l.z_channels;
    o.out_channels = channels;
    return o;
  }

  std::int64_t h_, w_, side_;
  vae::cli::vqgan_layout layout_;
  vae::Conv2d<float> post_quant_conv_;
  vae::VQGANDecoder<float> decoder_;
};

nlohmann::json read_json(const fs::path& file) {
  std::ifstream in(file);
  vae::check(static_cast<bool>(in), [&] { return vae::cat("cannot read ", file.string()); });
  return nlohmann::json::parse(in);
}

// --tiny: an untrained text2img run over an untrained run of the VQ preset `vq_model` on 16 × 16 images (vqgan-shapes:
// 4 × 4 tokens, vq-vae-shapes-f8: 2 × 2), written as `vae train` writes them.
fs::path make_tiny_run(const fs::path& root, const std::string& vq_model) {
  const auto vq_dir = root / ("vq-" + vq_model), t2i_dir = root / ("t2i-" + vq_model);
  fs::create_directories(vq_dir);
  fs::create_directories(t2i_dir);
  const nlohmann::json vq = {{"model", vq_model}, {"ch", 32}, {"codebook_size", 16}, {"code_dim", 8}};
  std::ofstream(vq_dir / "config.json") << vq.dump();
  std::int64_t grid = 4;
  if (vae::cli::preset_named(vq_model).kind == vae::cli::preset_kind::vq) {
    ResNetTokenDecoder(vq, 3, 16, 16).save(vq_dir / "model.safetensors");
    grid = 16 >> vae::cli::preset_named(vq_model).vq_downsamplings;
  } else {
    VQGANTokenDecoder(vq, 3, 16, 16).save(vq_dir / "model.safetensors");
  }
  const auto tok = vae::text::caption_tokenizer::train(vae::data::generate_shapes(200, 0, {.image_size = 32}).captions);
  tok.save(t2i_dir / vae::text::tokenizer_file);
  vae::gpt_prior_options o;
  o.text_vocab = tok.vocab_size();
  o.text_length = 12;
  o.image_vocab = 16;
  o.image_height = o.image_width = grid;
  o.n_layer = 1, o.n_head = 2, o.n_embd = 32;
  vae::GPTPrior<float>(o, 1).save(t2i_dir / "model.safetensors");
  std::ofstream(t2i_dir / "config.json")
      << nlohmann::json{{"model", "text2img"}, {"tokenizer_run", vq_dir.string()}, {"pixel_channels", 3},
                        {"pixel_height", 16}, {"pixel_width", 16}}.dump();
  return t2i_dir;
}

// The images of `prompt` from the text2img run in `run`, as a PNG grid in `out`.
void generate(const fs::path& run, const std::string& prompt, const std::string& out, std::int64_t n) {
  // The run's images are pixel_channels × pixel_height × pixel_width; its config names the VQ run it draws with,
  // whose config names the VQ preset, and so the decoder.
  const auto config = read_json(run / "config.json");
  auto t2i = vae::load_text_to_image(run, [&](const fs::path& vq_run) -> std::unique_ptr<TokenDecoderBase> {
    const auto vq = read_json(vq_run / "config.json");
    const auto c = config.at("pixel_channels").get<std::int64_t>(), h = config.at("pixel_height").get<std::int64_t>(),
               w = config.at("pixel_width").get<std::int64_t>();
    const auto* p = vae::cli::find_preset(vq.at("model").get<std::string>());
    std::unique_ptr<TokenDecoderBase> d;
    if (p != nullptr && p->kind == vae::cli::preset_kind::vq)
      d = std::make_unique<ResNetTokenDecoder>(vq, c, h, w);
    else
      d = std::make_unique<VQGANTokenDecoder>(vq, c, h, w);  // refuses, naming the presets, a run of neither kind
    d->load(vq_run / "model.safetensors");
    return d;
  });

  // Classifier-free guidance (the prompt and the empty caption in one batch) and the nucleus at the run's preset's
  // values, as vae generate samples (text2img-shapes 1.5 and 0.8, the others 3 and 0.95); top-k 100.
  vae::sampling_options s;
  const auto* preset = vae::cli::find_preset(config.value("model", std::string("text2img")));
  s.cfg_scale = preset != nullptr ? preset->text2img.guidance : 3.0;
  s.top_p = preset != nullptr ? preset->text2img.top_p : 0.95;
  s.top_k = std::min<std::int64_t>(100, t2i.prior().options().image_vocab);
  const auto images = t2i.generate(std::vector<std::string>(static_cast<std::size_t>(n), prompt), s, /*seed=*/0);
  vae::io::write_png_grid(out, images, 8);  // as vae generate lays its grid out
  std::printf("%s: %lld images of '%s' (%lld x %lld), tokens %lld x %lld of %lld codes, guidance %g, top-p %g\n", out.c_str(),
              static_cast<long long>(images.dim(0)), prompt.c_str(), static_cast<long long>(images.dim(2)),
              static_cast<long long>(images.dim(3)), static_cast<long long>(t2i.prior().options().image_height),
              static_cast<long long>(t2i.prior().options().image_width),
              static_cast<long long>(t2i.prior().options().image_vocab), s.cfg_scale, *s.top_p);
}

int main(int argc, char** argv) {
  std::vector<std::string> args;
  bool tiny = false;
  for (int i = 1; i < argc; ++i) (std::string(argv[i]) == "--tiny" ? tiny = true : (args.emplace_back(argv[i]), true));
  if (!tiny && args.empty()) {
    std::fprintf(stderr, "usage: %s RUN_DIR [PROMPT] [OUT.png] [N]   (or --tiny)\n", argv[0]);
    return 2;
  }
  const fs::path tmp = fs::temp_directory_path() / ("vae_example_text_to_image_" + std::to_string(::getpid()));
  const std::string prompt = args.size() > 1 ? args[1] : "a large red circle";
  const std::string out = args.size() > 2 ? args[2] : "text_to_image.png";
  const std::int64_t n = args.size() > 3 ? std::stoll(args[3]) : 8;

  try {
    if (tiny && args.empty()) {  // one run over each kind of VQ decoder
      generate(make_tiny_run(tmp, "vqgan-shapes"), prompt, out, n);
      generate(make_tiny_run(tmp, "vq-vae-shapes-f8"), prompt, out, n);
      // and a vq-vae run whose tokens do not index one codebook is refused, naming its quantizer
      const nlohmann::json fsq = {{"model", "vq-vae-shapes-f8"}, {"quantizer", "fsq"}, {"codebook_size", 16},
                                  {"code_dim", 8}};
      std::string refusal;
      try {
        ResNetTokenDecoder(fsq, 3, 16, 16);
      } catch (const vae::error& e) {
        refusal = e.what();
      }
      if (refusal.find("not fsq") == std::string::npos) {
        std::fprintf(stderr, "a vq-vae run with --quantizer fsq was not refused (got '%s')\n", refusal.c_str());
        fs::remove_all(tmp);
        return 1;
      }
      std::printf("refused as it should: %s\n", refusal.c_str());
    } else {
      generate(fs::path(args[0]), prompt, out, n);
    }
  } catch (const vae::error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    fs::remove_all(tmp);
    return 1;
  }
  fs::remove_all(tmp);
  return 0;
}
