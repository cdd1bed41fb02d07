// Text to image with the C++ API: loads a text2img run (vae train --model text2img-shapes, or text2img over a vqgan
// run) as a vae::TextToImage — its caption tokenizer, its GPTPrior and the decoding half of the VQGAN it was trained on
// — and writes the images of a prompt as one PNG grid.
//   example_text_to_image RUN_DIR ["a large red circle"] [OUT.png] [N]
//   example_text_to_image --tiny   (no run: makes a small untrained one in a temporary folder, then the same steps)
// The one header beyond the library's: the CLI's preset registry (tools/cli/preset_registry.hpp, plain data), since a
// run's config.json names its preset and only the registry knows which taming layout that name stands for; copying
// the layout here would drift from what `vae train` built.
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

// The decoding half of a vqgan run (any vqgan preset of the registry): codebook lookup, post_quant_conv, the taming
// decoder, then pixels from [-1, 1] to [0, 1] and the image cut from the power-of-two side it was padded to.
// The parameters keep the run's names, so they come straight from its model.safetensors.
class VQGANTokenDecoder {
 public:
  VQGANTokenDecoder(const nlohmann::json& vq, std::int64_t channels, std::int64_t height, std::int64_t width)
      : h_(height), w_(width), side_(padded_side(std::max(height, width))), layout_(layout_of(vq)),
        post_quant_conv_(vq.at("code_dim").get<std::int64_t>(), layout_.z_channels, 1),
        decoder_(decoder_options(vq, layout_, channels, side_)) {
    codebook_.shape = {vq.at("codebook_size").get<std::int64_t>(), vq.at("code_dim").get<std::int64_t>()};
    codebook_.init = vae::parameter_init::normal(0.0, 1.0);
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

  // Its tensors from a vqgan run's model.safetensors (which also holds the encoder's, left aside).
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

  // tokens [N, h, w] → images [N, C, H, W] in [0, 1].
  void decode_tokens(const vae::tensor<std::int32_t>& tokens, vae::tensor<float>& images) {
    const std::int64_t n = tokens.dim(0), th = tokens.dim(1), tw = tokens.dim(2), d = codebook_.shape[1];
    zq_.resize({n, d, th, tw});
    for (std::int64_t b = 0; b < n; ++b)
      for (std::int64_t c = 0; c < d; ++c)
        for (std::int64_t p = 0; p < th * tw; ++p)
          zq_[(b * d + c) * th * tw + p] = codebook_.value[tokens[b * th * tw + p] * d + c];
    const auto& y = decoder_.forward(post_quant_conv_.forward(zq_));
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
    const auto model = vq.at("model").get<std::string>();
    const auto* p = vae::cli::find_preset(model);
    vae::check(p != nullptr && p->kind == vae::cli::preset_kind::vqgan, [&] {
      return vae::cat("this example draws with the runs of the vqgan presets (",
                      vae::cli::preset_choices({vae::cli::preset_kind::vqgan}), "), not ", model);
    });
    return p->vqgan;
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
  vae::parameter<float> codebook_;
  vae::Conv2d<float> post_quant_conv_;
  vae::VQGANDecoder<float> decoder_;
  vae::parameter_store<float> store_;
  vae::tensor<float> zq_;
};

nlohmann::json read_json(const fs::path& file) {
  std::ifstream in(file);
  vae::check(static_cast<bool>(in), [&] { return vae::cat("cannot read ", file.string()); });
  return nlohmann::json::parse(in);
}

// --tiny: an untrained text2img run over an untrained 16 × 16 vqgan-shapes run, written as `vae train` writes them.
fs::path make_tiny_run(const fs::path& root) {
  fs::create_directories(root / "vq");
  fs::create_directories(root / "t2i");
  const nlohmann::json vq = {{"model", "vqgan-shapes"}, {"ch", 32}, {"codebook_size", 16}, {"code_dim", 8}};
  std::ofstream(root / "vq" / "config.json") << vq.dump();
  VQGANTokenDecoder(vq, 3, 16, 16).save(root / "vq" / "model.safetensors");
  const auto tok = vae::text::caption_tokenizer::train(vae::data::generate_shapes(200, 0, {.image_size = 32}).captions);
  tok.save(root / "t2i" / vae::text::tokenizer_file);
  vae::gpt_prior_options o;
  o.text_vocab = tok.vocab_size();
  o.text_length = 12;
  o.image_vocab = 16;
  o.image_height = o.image_width = 4;
  o.n_layer = 1, o.n_head = 2, o.n_embd = 32;
  vae::GPTPrior<float>(o, 1).save(root / "t2i" / "model.safetensors");
  std::ofstream(root / "t2i" / "config.json")
      << nlohmann::json{{"model", "text2img"}, {"tokenizer_run", (root / "vq").string()}, {"pixel_channels", 3},
                        {"pixel_height", 16}, {"pixel_width", 16}}.dump();
  return root / "t2i";
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
  const fs::path run = tiny && args.empty() ? make_tiny_run(tmp) : fs::path(args[0]);
  const std::string prompt = args.size() > 1 ? args[1] : "a large red circle";
  const std::string out = args.size() > 2 ? args[2] : "text_to_image.png";
  const std::int64_t n = args.size() > 3 ? std::stoll(args[3]) : 8;

  try {
    // The run's images are pixel_channels × pixel_height × pixel_width; its config names the VQ run it draws with.
    const auto config = read_json(run / "config.json");
    auto t2i = vae::load_text_to_image(run, [&](const fs::path& vq_run) {
      auto d = std::make_unique<VQGANTokenDecoder>(
          read_json(vq_run / "config.json"), config.at("pixel_channels").get<std::int64_t>(),
          config.at("pixel_height").get<std::int64_t>(), config.at("pixel_width").get<std::int64_t>());
      d->load(vq_run / "model.safetensors");
      return d;
    });

    // Classifier-free guidance 3 (the prompt and the empty caption in one batch), top-k 100, nucleus 0.95.
    vae::sampling_options s;
    s.cfg_scale = 3;
    s.top_k = std::min<std::int64_t>(100, t2i.prior().options().image_vocab);
    s.top_p = 0.95;
    const auto images = t2i.generate(std::vector<std::string>(static_cast<std::size_t>(n), prompt), s, /*seed=*/0);
    vae::io::write_png_grid(out, images, 4);
    std::printf("%s: %lld images of '%s' (%lld x %lld), tokens %lld x %lld of %lld codes\n", out.c_str(),
                static_cast<long long>(images.dim(0)), prompt.c_str(), static_cast<long long>(images.dim(2)),
                static_cast<long long>(images.dim(3)), static_cast<long long>(t2i.prior().options().image_height),
                static_cast<long long>(t2i.prior().options().image_width),
                static_cast<long long>(t2i.prior().options().image_vocab));
  } catch (const vae::error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    fs::remove_all(tmp);
    return 1;
  }
  fs::remove_all(tmp);
  return 0;
}
