// TextToImage: caption → image in one object — the caption tokenizer, a GPTPrior over [caption tokens ; image tokens]
// and a VQ model's decoder — with generate(prompts, sampling options, seed) → images and loading from a run directory.
//
// Needs sentencepiece (text/tokenizer.hpp; link with vae::sentencepiece).
#pragma once
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "vae/core/error.hpp"
#include "vae/core/tensor.hpp"
#include "vae/models/gpt_prior.hpp"
#include "vae/text/tokenizer.hpp"
#include "vae/transformer/sampler.hpp"

namespace vae {

namespace detail {
template <class D>
concept direct_token_decoder = requires(D& d, const tensor<std::int32_t>& tokens, tensor<float>& images) {
  d.decode_tokens(tokens, images);
};
}  // namespace detail

// What draws the images: image tokens [N, h, w] → images [N, C, H, W] (a VQVAE's or VQGAN's decode_tokens, or an
// adapter that also maps the model's value range to pixels), or a pointer owning one (std::unique_ptr,
// std::shared_ptr) for a decoder that cannot move, such as a model whose parameter store points into it.
template <class D>
concept TokenDecoder = detail::direct_token_decoder<D> || requires(D& d) {
  requires detail::direct_token_decoder<std::remove_reference_t<decltype(*d)>>;
};

// Caption rows [n, length] of `prompts` for a prior: <bos> pieces <eos> <pad>...; a prompt with no text is the
// unconditional row (length × <pad>, the empty caption that caption dropout trains). Unknown words become <unk> and
// over-long prompts are truncated, each with a message to `warn`.
inline tensor<std::int32_t> encode_prompts(const text::caption_tokenizer& tok, const std::vector<std::string>& prompts,
                                           std::int64_t length,
                                           const text::warning_sink& warn = text::warn_to_stderr) {
  tensor<std::int32_t> t({static_cast<std::int64_t>(prompts.size()), length});
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    std::int32_t* row = t.data() + static_cast<std::int64_t>(i) * length;
    if (prompts[i].find_first_not_of(" \t\r\n") == std::string::npos) {
      std::fill(row, row + length, text::caption_tokenizer::pad_id);
      continue;
    }
    const auto e = tok.encode(prompts[i], length, warn);
    std::copy(e.ids.begin(), e.ids.end(), row);
  }
  return t;
}

// A text-to-image model. The parts must agree: the tokenizer's vocabulary is the prior's text vocabulary and its
// <pad> the prior's empty caption; the decoder takes the prior's token grid (image_height × image_width ids below
// image_vocab), which only the decoder can check.
//
//   auto t2i = vae::load_text_to_image(run_dir, open_vq_decoder);   // or TextToImage(tokenizer, prior, decoder)
//   vae::sampling_options s;  s.cfg_scale = 3;  s.top_k = 100;  s.top_p = 0.95;
//   auto images = t2i.generate({"a large red circle", ""}, s, /*seed=*/0);   // [2, C, H, W]
template <TokenDecoder D, class T = float>
class TextToImage {
 public:
  using decoder_type = D;
  using prior_type = GPTPrior<T>;

  TextToImage(text::caption_tokenizer tokenizer, std::unique_ptr<prior_type> prior, D decoder)
      : tok_(std::move(tokenizer)), prior_(std::move(prior)), dec_(std::move(decoder)) {
    check(prior_ != nullptr, "TextToImage: no prior given");
    const auto& o = prior_->options();
    check(tok_.vocab_size() == o.text_vocab, [&] {
      return cat("TextToImage: the caption tokenizer has ", tok_.vocab_size(), " pieces but the prior's text vocabulary is ",
                 o.text_vocab, " (the tokenizer and the prior come from different runs)");
    });
    check(o.empty_text_token == text::caption_tokenizer::pad_id, [&] {
      return cat("TextToImage: the prior's empty caption token is ", o.empty_text_token, ", the tokenizer's <pad> is ",
                 text::caption_tokenizer::pad_id);
    });
  }

  // A text2img run directory (what `vae train --model text2img --out DIR` writes): tokenizer.model (and its .words),
  // model.safetensors (the prior, its sizes in the file's metadata) and config.json, whose "tokenizer_run" names the
  // VQ run that open_decoder(path) → D opens.
  template <class Open>
    requires std::same_as<std::invoke_result_t<Open&, const std::filesystem::path&>, D>
  static TextToImage load(const std::filesystem::path& dir, Open&& open_decoder) {
    for (const char* f : {"config.json", "model.safetensors", text::tokenizer_file})
      check(std::filesystem::exists(dir / f), [&] {
        return cat("'", dir.string(), "' is not a text2img run: ", f, " is missing (a run of vae train --model text2img ",
                   "holds config.json, model.safetensors and ", text::tokenizer_file, ")");
      });
    const auto vq_run = vq_run_of(dir);
    auto prior = std::make_unique<prior_type>(load_gpt_prior_options(dir / "model.safetensors"));
    prior->load(dir / "model.safetensors");
    return TextToImage(text::caption_tokenizer::load(dir / text::tokenizer_file), std::move(prior),
                       open_decoder(vq_run));
  }

  // The VQ run a text2img run directory names (config.json's "tokenizer_run").
  static std::filesystem::path vq_run_of(const std::filesystem::path& dir) {
    std::ifstream in(dir / "config.json");
    check(static_cast<bool>(in), [&] { return cat("cannot read '", (dir / "config.json").string(), "'"); });
    try {
      const auto j = nlohmann::json::parse(in);
      check(j.contains("tokenizer_run") && j.at("tokenizer_run").is_string(), [&] {
        return cat("'", (dir / "config.json").string(), "' names no tokenizer_run (the VQ run whose tokens it models)");
      });
      return j.at("tokenizer_run").get<std::string>();
    } catch (const nlohmann::json::exception& e) {
      vae::detail::throw_error(cat("'", (dir / "config.json").string(), "' is not valid JSON: ", e.what()));
    }
  }

  // Caption rows [n, text_length] of the prompts (see encode_prompts; warnings go to the warning sink).
  tensor<std::int32_t> encode(const std::vector<std::string>& prompts) const {
    return encode_prompts(tok_, prompts, prior_->options().text_length, warn_);
  }

  // Image tokens [n, h, w], one image per prompt ("" = unconditional). `s.seed` is replaced by `seed`: the same
  // prompts, options, seed and thread count give the same tokens (sample_image_tokens).
  tensor<std::int32_t> sample_tokens(const std::vector<std::string>& prompts, sampling_options s, std::uint64_t seed) {
    check(!prompts.empty(), "TextToImage: no prompts (one per image; \"\" samples unconditionally)");
    s.seed = seed;
    auto tokens = sample_image_tokens(*prior_, encode(prompts), s);
    const auto& o = prior_->options();
    tokens.reshape({tokens.dim(0), o.image_height, o.image_width});
    return tokens;
  }

  // Images [n, C, H, W] as the decoder draws them, one per prompt.
  tensor<float> generate(const std::vector<std::string>& prompts, const sampling_options& s, std::uint64_t seed) {
    tensor<float> images;
    if constexpr (detail::direct_token_decoder<D>) dec_.decode_tokens(sample_tokens(prompts, s, seed), images);
    else dec_->decode_tokens(sample_tokens(prompts, s, seed), images);
    check(images.rank() == 4 && images.dim(0) == static_cast<std::int64_t>(prompts.size()), [&] {
      return cat("TextToImage: the decoder returned ", images.shape(), " for ", prompts.size(), " token grids");
    });
    return images;
  }

  // Where warnings about prompts go (unknown words, truncation); standard error by default.
  void set_warning_sink(text::warning_sink w) { warn_ = std::move(w); }

  const text::caption_tokenizer& tokenizer() const { return tok_; }
  prior_type& prior() { return *prior_; }
  D& decoder() { return dec_; }  // as given (the pointer, for a pointer)

 private:
  text::caption_tokenizer tok_;
  std::unique_ptr<prior_type> prior_;
  D dec_;
  text::warning_sink warn_ = text::warn_to_stderr;
};

// TextToImage::load with the decoder type deduced from open_decoder.
template <class Open, class D = std::invoke_result_t<Open&, const std::filesystem::path&>>
TextToImage<D> load_text_to_image(const std::filesystem::path& dir, Open&& open_decoder) {
  return TextToImage<D>::load(dir, open_decoder);
}

}  // namespace vae
