// caption_tokenizer: a sentencepiece (BPE or unigram) tokenizer trained on captions, saved beside a run, with fixed special ids.
//
// Needs sentencepiece (Debian: libsentencepiece-dev) and linking with vae::sentencepiece (CMake; the target exists
// when the library was found). The special ids are fixed so that a text-to-image model never has to ask the
// tokenizer for them:
//   pad_id = 0   fills a sequence up to the text context (a prior masks it or learns it as "no more text")
//   unk_id = 1   a character the training captions never had
//   bos_id = 2   starts every encoded caption
//   eos_id = 3   ends it (also after a truncation, so the model always sees where the text stops)
// Captions are case-folded (sentencepiece's nmt_nfkc_cf normalisation): "A Red Circle" and "a red circle" are the
// same tokens. Unknown words map to <unk>: the tokenizer keeps the words of its training captions (saved beside the
// model as NAME.words, one a line), and encode() turns any other word into one <unk> and names it in a warning, so
// a prompt's "purple" is not silently spelled p-u-r-p-l-e into pieces the prior never saw in that order. (A model
// loaded without its .words file spells unseen words in known pieces; characters never seen are <unk> either way.)
// Training is deterministic: one thread, no sentence sampling, the captions in the order given.
#pragma once
#if !__has_include(<sentencepiece_processor.h>) || !__has_include(<sentencepiece_trainer.h>)
#error "vae/text/tokenizer.hpp needs sentencepiece: apt-get install libsentencepiece-dev, and link with vae::sentencepiece"
#endif
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "vae/core/error.hpp"
#include "vae/io/atomic_file.hpp"
#include "vae/text/words.hpp"

namespace vae::text {

// The tokenizer's file in a run directory (beside config.json and model.safetensors).
inline constexpr const char* tokenizer_file = "tokenizer.model";

struct tokenizer_options {
  int vocab_size = 512;              // an upper bound: a small caption set gets as many pieces as it has
  // bpe | unigram. BPE by default: on a small caption set (the shapes' 25 words) sentencepiece's unigram trainer
  // stops at about 50 pieces, mostly letters and syllables, while BPE merges up to whole words.
  std::string model_type = "bpe";
};

// One caption as the text part of a model's sequence.
struct encoded_caption {
  std::vector<std::int32_t> ids;  // <bos> pieces <eos>, then <pad> up to the context length
  std::int64_t length = 0;        // tokens before the padding
  std::int64_t unknown = 0;       // <unk> tokens (unknown words and characters)
  std::vector<std::string> unknown_words;  // the words that became <unk>, as written
  bool truncated = false;         // the caption had more pieces than fit
};

// Where warnings go (truncated captions, unknown characters); by default standard error.
using warning_sink = std::function<void(const std::string&)>;
inline void warn_to_stderr(const std::string& message) { std::cerr << "warning: " << message << "\n"; }

namespace detail {
class caption_iterator : public sentencepiece::SentenceIterator {
 public:
  explicit caption_iterator(const std::vector<std::string>& captions) : captions_(captions) { skip_empty(); }
  bool done() const override { return i_ >= captions_.size(); }
  void Next() override {
    ++i_;
    skip_empty();
  }
  const std::string& value() const override { return captions_[i_]; }
  sentencepiece::util::Status status() const override { return {}; }  // a default Status is OK

 private:
  void skip_empty() {
    while (i_ < captions_.size() && captions_[i_].find_first_not_of(" \t\r\n") == std::string::npos) ++i_;
  }
  const std::vector<std::string>& captions_;
  std::size_t i_ = 0;
};
}  // namespace detail

class caption_tokenizer {
 public:
  static constexpr std::int32_t pad_id = 0, unk_id = 1, bos_id = 2, eos_id = 3;

  // Trains on `captions` in memory (empty captions are skipped; at least one must have text).
  static caption_tokenizer train(const std::vector<std::string>& captions, const tokenizer_options& opt = {}) {
    check(opt.model_type == "unigram" || opt.model_type == "bpe",
          [&] { return cat("caption_tokenizer: model_type must be unigram or bpe, got '", opt.model_type, "'"); });
    check(opt.vocab_size >= 8 && opt.vocab_size <= 1000000,
          [&] { return cat("caption_tokenizer: vocab_size must be in [8, 1000000], got ", opt.vocab_size); });
    detail::caption_iterator it(captions);
    check(!it.done(), "caption_tokenizer: no caption with text to train on");
    const std::unordered_map<std::string, std::string> args = {
        {"model_type", opt.model_type},
        {"vocab_size", std::to_string(opt.vocab_size)},
        {"hard_vocab_limit", "false"},  // vocab_size is an upper bound
        {"character_coverage", "1.0"},
        {"normalization_rule_name", "nmt_nfkc_cf"},
        {"pad_id", "0"}, {"unk_id", "1"}, {"bos_id", "2"}, {"eos_id", "3"},
        {"num_threads", "1"},            // deterministic
        {"input_sentence_size", "0"},    // every caption, no sampling
        {"shuffle_input_sentence", "false"},
        {"minloglevel", "2"},            // sentencepiece's progress lines off; errors come back as the status
    };
    std::string proto;
    const auto status = sentencepiece::SentencePieceTrainer::Train(args, &it, &proto);
    check(status.ok(), [&] { return cat("caption_tokenizer: sentencepiece training failed: ", status.ToString()); });
    auto t = from_serialized(proto, "the trained model");
    for (const auto& c : captions)
      for (auto& w : split_words(c)) t.words_.push_back(word_key(w));
    std::sort(t.words_.begin(), t.words_.end());
    t.words_.erase(std::unique(t.words_.begin(), t.words_.end()), t.words_.end());
    return t;
  }

  // Loads a model written by save() (any sentencepiece .model with the ids above) and its .words file if present.
  static caption_tokenizer load(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    check(static_cast<bool>(in), [&] { return cat("caption_tokenizer: cannot open '", path.string(), "'"); });
    std::ostringstream s;
    s << in.rdbuf();
    auto t = from_serialized(s.str(), path.string());
    std::ifstream words(words_path(path));
    for (std::string w; std::getline(words, w);)
      if (!w.empty()) t.words_.push_back(w);
    std::sort(t.words_.begin(), t.words_.end());
    return t;
  }

  // Writes the model (sentencepiece's own .model format, which Python's sentencepiece also reads) and the known
  // words beside it (NAME.words), each atomically.
  void save(const std::filesystem::path& path) const {
    io::write_file_atomically(path, [&](io::file_sink& f) { f.write(proto_.data(), proto_.size()); });
    std::string list;
    for (const auto& w : words_) list += w + "\n";
    io::write_text_atomically(words_path(path), list);
  }
  static std::filesystem::path words_path(std::filesystem::path model) { return model.replace_extension(".words"); }

  // The words of the training captions (lower case, outer punctuation removed), sorted; empty for a model loaded
  // without its .words file.
  const std::vector<std::string>& known_words() const { return words_; }

  std::int32_t vocab_size() const { return static_cast<std::int32_t>(sp_->GetPieceSize()); }
  std::string piece(std::int32_t id) const {
    check(id >= 0 && id < vocab_size(), [&] { return cat("caption_tokenizer: id ", id, " outside [0, ", vocab_size(), ")"); });
    return sp_->IdToPiece(id);
  }
  const std::string& serialized() const { return proto_; }

  // The pieces of `text` (no <bos>/<eos>).
  std::vector<std::int32_t> pieces(std::string_view text) const {
    std::vector<int> ids;
    const auto status = sp_->Encode(text, &ids);
    check(status.ok(), [&] { return cat("caption_tokenizer: cannot encode '", text, "': ", status.ToString()); });
    return {ids.begin(), ids.end()};
  }

  // <bos> pieces <eos> padded with <pad> to `context` tokens. Unknown words become one <unk> each; a caption that
  // does not fit keeps its first context − 2 tokens and <eos>. Both are told to `warn` (never silent).
  encoded_caption encode(std::string_view text, std::int64_t context, const warning_sink& warn = warn_to_stderr) const {
    check(context >= 2, [&] { return cat("caption_tokenizer: the text context must hold <bos> and <eos> (>= 2), got ", context); });
    encoded_caption e;
    std::vector<std::int32_t> p;
    // Pieces never cross white space (sentencepiece splits there first), so word by word gives the whole text's pieces.
    for (const auto& w : split_words(text)) {
      const auto key = word_key(w);  // a word of punctuation alone is left to the pieces
      if (!words_.empty() && !key.empty() && !std::binary_search(words_.begin(), words_.end(), key)) {
        p.push_back(unk_id);
        e.unknown_words.push_back(w);
        continue;
      }
      const auto wp = pieces(w);
      p.insert(p.end(), wp.begin(), wp.end());
    }
    const auto room = static_cast<std::size_t>(context - 2);
    e.truncated = p.size() > room;
    const std::size_t keep = e.truncated ? room : p.size();
    e.ids.reserve(static_cast<std::size_t>(context));
    e.ids.push_back(bos_id);
    e.ids.insert(e.ids.end(), p.begin(), p.begin() + static_cast<std::ptrdiff_t>(keep));
    e.ids.push_back(eos_id);
    e.length = static_cast<std::int64_t>(e.ids.size());
    e.ids.resize(static_cast<std::size_t>(context), pad_id);
    for (auto id : p) e.unknown += id == unk_id;
    if (e.truncated && warn)
      warn(cat("caption '", text, "' is ", p.size(), " tokens, more than the text context of ", context, " holds with <bos> and <eos> (",
               room, "): truncated to '", decode(std::vector<std::int32_t>(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(keep))), "'"));
    if (e.unknown > 0 && warn) {
      std::string named;
      for (const auto& w : e.unknown_words) named += cat(named.empty() ? "" : ", ", "'", w, "'");
      const auto chars = e.unknown - static_cast<std::int64_t>(e.unknown_words.size());
      warn(cat("caption '", text, "' has ", e.unknown, " <unk> token(s): ",
               named.empty() ? "" : cat("word(s) not in the training captions ", named), !named.empty() && chars ? "; " : "",
               chars ? cat(chars, " piece(s) with characters never seen in training") : ""));
    }
    return e;
  }

  // The text of `ids`; <pad>, <bos> and <eos> are dropped, <unk> reads " ⁇ " (sentencepiece's spelling).
  std::string decode(const std::vector<std::int32_t>& ids) const {
    std::vector<int> kept;
    for (auto id : ids) {
      check(id >= 0 && id < vocab_size(), [&] { return cat("caption_tokenizer: id ", id, " outside [0, ", vocab_size(), ")"); });
      if (id != pad_id && id != bos_id && id != eos_id) kept.push_back(id);
    }
    std::string out;
    const auto status = sp_->Decode(kept, &out);
    check(status.ok(), [&] { return cat("caption_tokenizer: cannot decode: ", status.ToString()); });
    return out;
  }

 private:
  static caption_tokenizer from_serialized(std::string proto, const std::string& origin) {
    caption_tokenizer t;
    t.sp_ = std::make_shared<sentencepiece::SentencePieceProcessor>();
    const auto status = t.sp_->LoadFromSerializedProto(proto);
    check(status.ok(), [&] { return cat("caption_tokenizer: '", origin, "' is not a sentencepiece model: ", status.ToString()); });
    check(t.sp_->pad_id() == pad_id && t.sp_->unk_id() == unk_id && t.sp_->bos_id() == bos_id && t.sp_->eos_id() == eos_id, [&] {
      return cat("caption_tokenizer: '", origin, "' has special ids pad ", t.sp_->pad_id(), ", unk ", t.sp_->unk_id(), ", bos ",
                 t.sp_->bos_id(), ", eos ", t.sp_->eos_id(), "; vae's are 0, 1, 2, 3 (train it with caption_tokenizer::train)");
    });
    t.proto_ = std::move(proto);
    return t;
  }
  // The form a word is looked up in: ASCII lower case, without leading or trailing punctuation ("Circle." -> "circle").
  static std::string word_key(const std::string& w) {
    std::size_t a = 0, b = w.size();
    while (a < b && std::ispunct(static_cast<unsigned char>(w[a]))) ++a;
    while (b > a && std::ispunct(static_cast<unsigned char>(w[b - 1]))) --b;
    std::string k = w.substr(a, b - a);
    for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return k;
  }

  std::shared_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::string proto_;
  std::vector<std::string> words_;  // sorted
};

}  // namespace vae::text
