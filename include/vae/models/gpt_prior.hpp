// GPTPrior: a decoder-only transformer over [caption tokens ; image tokens] (DALL-E's layout), p(s_i | s_<i, caption),
// with learned text positions, 2-D image positions (row + column), caption dropout for classifier-free guidance, its
// own flat parameter store and safetensors files under nanoGPT's names.
#pragma once
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "vae/core/error.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/rng.hpp"
#include "vae/dist/gradient_sync.hpp"
#include "vae/core/tensor.hpp"
#include "vae/io/safetensors.hpp"
#include "vae/layers/embedding.hpp"
#include "vae/layers/layer_norm.hpp"
#include "vae/layers/linear.hpp"
#include "vae/ops/losses.hpp"
#include "vae/train/checkpoint.hpp"
#include "vae/transformer/kv_cache.hpp"
#include "vae/transformer/transformer_block.hpp"

namespace vae {

struct gpt_prior_options {
  std::int64_t text_vocab = 256;       // Vt: caption token ids 0..Vt−1
  std::int64_t text_length = 16;       // Lt: caption tokens per sequence (the caller pads or truncates)
  std::int64_t image_vocab = 512;      // Vi: image token ids 0..Vi−1 (the VQ codebook)
  std::int64_t image_height = 7;       // the token grid, row-major
  std::int64_t image_width = 7;
  std::int64_t n_layer = 4, n_head = 4, n_embd = 256;
  double text_loss_weight = 0;         // w in [0, 1): loss = (1 − w)·image NLL + w·text NLL (DALL-E: 1/8)
  double caption_dropout = 0;          // p in [0, 1]: a training caption becomes the empty caption with probability p
  std::int32_t empty_text_token = 0;   // an empty caption is text_length copies of this token (the tokenizer's pad)
};

// The losses of one batch, each a mean over its tokens, in nats.
struct gpt_prior_loss {
  double loss = 0;       // (1 − w)·image + w·text: what train_step_loss differentiates
  double image_nll = 0;  // per image token
  double text_nll = 0;   // per predicted caption token (0 when w = 0: not computed)
};

// Sequence of a pair (caption y, image tokens s): [y_0 .. y_{Lt−1}, Vt + s_0 .. Vt + s_{N−2}] (N = H·W), one joint
// vocabulary of Vt + Vi ids. Position Lt − 1 + i predicts s_i over the image part of the logits; with w > 0, position
// i < Lt − 1 predicts y_{i+1} over the text part (DALLE-pytorch masks the other part of the logits the same way).
// Position embeddings: wpe[i] for caption position i, wpe_row[r] + wpe_col[c] for image token (r, c).
//
// Parameters (nanoGPT's names, its init: N(0, 0.02), residual projections N(0, 0.02/√(2·n_layer)), biases 0):
//   transformer.wte.weight [Vt + Vi, C], transformer.wpe.weight [Lt, C], transformer.wpe_row.weight [H, C],
//   transformer.wpe_col.weight [W, C], transformer.h.<i>.{ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc,
//   mlp.c_proj}.{weight, bias}, transformer.ln_f.{weight, bias}, lm_head.weight [Vt + Vi, C] (no bias, not tied).
//
// Training step (the caller zeroes the gradients before and steps an optimizer on parameters() after):
//   model.train_step_loss(text [B, Lt], image [B, H·W], rng).loss
// Sampling: transformer/sampler.hpp (forward_cached over a kv_cache from make_cache).
template <class T = float, class B = cpu>
class GPTPrior {
  static_assert(HostBackend<B>,
                "GPTPrior: only host backends for now (the position embeddings and loss slices are host loops)");

 public:
  using value_type = T;
  using backend = B;
  using token_tensor = tensor<std::int32_t, B>;

  explicit GPTPrior(const gpt_prior_options& o, std::uint64_t seed = 0)
      : o_(checked(o)), wte_(o.text_vocab + o.image_vocab, o.n_embd), ln_f_(o.n_embd),
        lm_head_(o.n_embd, o.text_vocab + o.image_vocab, false) {
    blocks_.reserve(static_cast<std::size_t>(o.n_layer));
    for (std::int64_t i = 0; i < o.n_layer; ++i) blocks_.emplace_back(o.n_embd, o.n_head);
    wpe_.shape = {o.text_length, o.n_embd};
    wpe_row_.shape = {o.image_height, o.n_embd};
    wpe_col_.shape = {o.image_width, o.n_embd};
    const double residual_std = 0.02 / std::sqrt(2.0 * static_cast<double>(o.n_layer));
    visit_parameters("", [&](const std::string& name, parameter<T>& p) {
      if (name.find(".ln_") != std::string::npos) return;  // LayerNorms keep (1, 0)
      if (name.ends_with(".bias")) p.init = parameter_init::constant(0.0);
      else if (name.ends_with("c_proj.weight")) p.init = parameter_init::normal(0.0, residual_std);
      else p.init = parameter_init::normal(0.0, 0.02);
    });
    generator rng(seed);
    store_.attach(*this, rng);
  }
  GPTPrior(const GPTPrior&) = delete;  // the store points into the layers
  GPTPrior& operator=(const GPTPrior&) = delete;

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    wte_.visit_parameters(prefix + "transformer.wte.", visit);
    visit(prefix + "transformer.wpe.weight", wpe_);
    visit(prefix + "transformer.wpe_row.weight", wpe_row_);
    visit(prefix + "transformer.wpe_col.weight", wpe_col_);
    for (std::size_t i = 0; i < blocks_.size(); ++i)
      blocks_[i].visit_parameters(prefix + "transformer.h." + std::to_string(i) + ".", visit);
    ln_f_.visit_parameters(prefix + "transformer.ln_f.", visit);
    lm_head_.visit_parameters(prefix + "lm_head.", visit);
  }

  parameter_store<T, B>& parameters() { return store_; }
  const gpt_prior_options& options() const { return o_; }
  std::int64_t vocab() const { return o_.text_vocab + o_.image_vocab; }
  std::int64_t image_tokens() const { return o_.image_height * o_.image_width; }
  // Positions a training sequence feeds (and a kv_cache must hold): Lt + H·W − 1.
  std::int64_t context() const { return o_.text_length + image_tokens() - 1; }

  // tokens [N, L] of joint ids (L ≤ context()) → logits [N, L, Vt + Vi] (owned by lm_head); last_only: [N, 1, ·] of
  // the last position only (no backward then).
  const tensor<T, B>& forward(const token_tensor& tokens, bool last_only = false) {
    check(tokens.rank() == 2 && tokens.dim(0) > 0 && tokens.dim(1) > 0 && tokens.dim(1) <= context(), [&] {
      return cat("GPTPrior::forward: expected tokens [N, L] with 1 ≤ L ≤ ", context(), ", got ", tokens.shape());
    });
    embed(tokens, 0);
    const tensor<T, B>* h = &x_;
    for (auto& b : blocks_) h = &b.forward(*h);
    forwarded_ = !last_only;
    if (last_only) h = &last_positions(*h);
    return lm_head_.forward(ln_f_.forward(*h));
  }

  // dlogits [N, L, Vt + Vi] of the last forward: ADDS every parameter gradient.
  void backward(const tensor<T, B>& dlogits) {
    check(forwarded_, "GPTPrior::backward called before forward (or after a forward_cached)");
    const tensor<T, B>* g = &ln_f_.backward(lm_head_.backward(dlogits));
    dist::mark_gradients_ready(sync_, lm_head_);  // each part's allreduce runs beside the rest of the backward
    dist::mark_gradients_ready(sync_, ln_f_);
    for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) {
      g = &it->backward(*g);
      dist::mark_gradients_ready(sync_, *it);
    }
    wte_.backward(*g);
    add_position_gradients(*g);
    dist::mark_gradients_ready(sync_, wte_);
    for (auto* p : {&wpe_, &wpe_row_, &wpe_col_}) dist::mark_gradients_ready(sync_, *p);
  }
  // Data-parallel training: the head's, each block's (last first) and the embeddings' gradients are declared final
  // to `sync` as the backward finishes them. Null (the default): one process.
  void set_gradient_sync(dist::gradient_sync<T>* sync) { sync_ = sync; }

  // Forward and backward of one batch: text [N, Lt] caption tokens, image [N, H·W] image tokens. Captions become the
  // empty caption with probability caption_dropout, one draw from `rng` per row. ADDS the gradients of .loss.
  gpt_prior_loss train_step_loss(const token_tensor& text, const token_tensor& image, generator& rng) {
    check_batch(text, image, "train_step_loss");
    text_work_ = text;
    if (o_.caption_dropout > 0) {
      const std::int64_t lt = o_.text_length;
      for (std::int64_t n = 0; n < text.dim(0); ++n)
        if (rng.uniform() < o_.caption_dropout)
          std::fill(text_work_.data() + n * lt, text_work_.data() + (n + 1) * lt, o_.empty_text_token);
    }
    const auto& logits = forward(sequence(text_work_, image));
    const auto l = losses(logits, text_work_, image, &dlogits_);
    backward(dlogits_);
    return l;
  }

  // The losses of a batch without dropout or gradients.
  gpt_prior_loss evaluate(const token_tensor& text, const token_tensor& image) {
    check_batch(text, image, "evaluate");
    const auto& logits = forward(sequence(text, image));
    forwarded_ = false;
    return losses(logits, text, image, nullptr);
  }

  // The joint sequence [N, context()] of a batch (see the class comment).
  token_tensor sequence(const token_tensor& text, const token_tensor& image) const {
    check_batch(text, image, "sequence");
    const std::int64_t n = text.dim(0), lt = o_.text_length, hw = image_tokens(), l = context();
    token_tensor seq({n, l});
    for (std::int64_t b = 0; b < n; ++b) {
      for (std::int64_t i = 0; i < lt; ++i) seq[b * l + i] = text[b * lt + i];
      for (std::int64_t i = 0; i + 1 < hw; ++i)
        seq[b * l + lt + i] = static_cast<std::int32_t>(o_.text_vocab) + image[b * hw + i];
    }
    return seq;
  }

  // A cache for decoding `batch` sequences of up to context() positions.
  kv_cache<T, B> make_cache(std::int64_t batch) const {
    return kv_cache<T, B>(o_.n_layer, batch, o_.n_head, context(), o_.n_embd / o_.n_head);
  }

  // Incremental decoding: tokens [N, Tn] of joint ids at positions cache.length() .. cache.length() + Tn − 1; returns
  // their logits [N, Tn, Vt + Vi], or [N, 1, Vt + Vi] of the last one when last_only (owned by lm_head). Advances the
  // cache by Tn. No backward.
  const tensor<T, B>& forward_cached(const token_tensor& tokens, kv_cache<T, B>& cache, bool last_only = false) {
    check(tokens.rank() == 2 && tokens.dim(0) == cache.batch() && tokens.dim(1) > 0, [&] {
      return cat("GPTPrior::forward_cached: expected tokens [", cache.batch(), ", Tn] for a cache of batch ",
                 cache.batch(), ", got ", tokens.shape());
    });
    check(cache.layers() == o_.n_layer && cache.heads() == o_.n_head && cache.head_dim() == o_.n_embd / o_.n_head &&
              cache.length() + tokens.dim(1) <= context(),
          [&] {
            return cat("GPTPrior::forward_cached: ", tokens.dim(1), " positions after ", cache.length(),
                       " cached do not fit this model's context of ", context(), " (or the cache is another model's)");
          });
    forwarded_ = false;
    const std::int64_t tn = tokens.dim(1);
    embed(tokens, cache.length());
    const tensor<T, B>* h = &x_;
    for (std::size_t i = 0; i < blocks_.size(); ++i)
      h = &blocks_[i].forward_cached(*h, cache.slot(static_cast<std::int64_t>(i), tn));
    cache.advance(tn);
    if (last_only) h = &last_positions(*h);
    return lm_head_.forward(ln_f_.forward(*h));
  }

  // safetensors under the names above; the options go into the file's metadata.
  void save(const std::filesystem::path& path) const {
    save_parameters(path, store_, {{"model", "gpt_prior"}, {"options", options_string()}});
  }
  // Strict: the file must hold exactly this architecture's parameters (the shapes say the sizes).
  void load(const std::filesystem::path& path) { load_parameters(path, store_); }

 private:
  static const gpt_prior_options& checked(const gpt_prior_options& o) {
    check(o.text_vocab > 0 && o.image_vocab > 0 && o.text_length > 0 && o.image_height > 0 && o.image_width > 0, [&] {
      return cat("GPTPrior: text_vocab, image_vocab, text_length, image_height, image_width must be positive, got ",
                 o.text_vocab, ", ", o.image_vocab, ", ", o.text_length, ", ", o.image_height, ", ", o.image_width);
    });
    check(o.n_layer > 0 && o.n_head > 0 && o.n_embd > 0 && o.n_embd % o.n_head == 0, [&] {
      return cat("GPTPrior: n_layer, n_head must be positive and n_embd a positive multiple of n_head, got n_layer=",
                 o.n_layer, " n_head=", o.n_head, " n_embd=", o.n_embd);
    });
    check(o.text_loss_weight >= 0 && o.text_loss_weight < 1, [&] {
      return cat("GPTPrior: text_loss_weight must be in [0, 1), got ", o.text_loss_weight);
    });
    check(o.caption_dropout >= 0 && o.caption_dropout <= 1, [&] {
      return cat("GPTPrior: caption_dropout must be in [0, 1], got ", o.caption_dropout);
    });
    check(o.empty_text_token >= 0 && o.empty_text_token < o.text_vocab, [&] {
      return cat("GPTPrior: empty_text_token must be a text token in [0, ", o.text_vocab - 1, "], got ",
                 o.empty_text_token);
    });
    return o;
  }

  std::string options_string() const {
    return cat("text_vocab=", o_.text_vocab, " text_length=", o_.text_length, " image_vocab=", o_.image_vocab,
               " image_height=", o_.image_height, " image_width=", o_.image_width, " n_layer=", o_.n_layer,
               " n_head=", o_.n_head, " n_embd=", o_.n_embd, " text_loss_weight=", o_.text_loss_weight,
               " caption_dropout=", o_.caption_dropout, " empty_text_token=", o_.empty_text_token);
  }

  void check_batch(const token_tensor& text, const token_tensor& image, const char* what) const {
    const std::int64_t lt = o_.text_length, hw = image_tokens();
    check(text.rank() == 2 && image.rank() == 2 && text.dim(0) == image.dim(0) && text.dim(0) > 0 &&
              text.dim(1) == lt && image.dim(1) == hw,
          [&] {
            return cat("GPTPrior::", what, ": expected text [N, ", lt, "] and image [N, ", hw, "] with N ≥ 1, got ",
                       text.shape(), " and ", image.shape());
          });
    for (std::int64_t i = 0; i < text.numel(); ++i)
      check(text[i] >= 0 && text[i] < o_.text_vocab, [&] {
        return cat("GPTPrior::", what, ": caption token ", text[i], " at [", i / lt, ", ", i % lt,
                   "] is outside the text vocabulary 0..", o_.text_vocab - 1);
      });
    for (std::int64_t i = 0; i < image.numel(); ++i)
      check(image[i] >= 0 && image[i] < o_.image_vocab, [&] {
        return cat("GPTPrior::", what, ": image token ", image[i], " at [", i / hw, ", ", i % hw,
                   "] is outside the image vocabulary 0..", o_.image_vocab - 1);
      });
  }

  // The embedding of position p: wpe[p] for a caption position, wpe_row[r] + wpe_col[c] for image token r·W + c.
  void position_rows(std::int64_t p, const T*& a, const T*& b) const {
    const std::int64_t c = o_.n_embd, lt = o_.text_length;
    if (p < lt) {
      a = wpe_.value + p * c;
      b = nullptr;
    } else {
      const std::int64_t i = p - lt;
      a = wpe_row_.value + (i / o_.image_width) * c;
      b = wpe_col_.value + (i % o_.image_width) * c;
    }
  }

  // The last position of each row of h [N, L, C] (h itself when L = 1).
  const tensor<T, B>& last_positions(const tensor<T, B>& h) {
    const std::int64_t n = h.dim(0), l = h.dim(1), c = h.dim(2);
    if (l == 1) return h;
    last_.resize({n, 1, c});
    for (std::int64_t b = 0; b < n; ++b)
      std::copy(h.data() + ((b + 1) * l - 1) * c, h.data() + (b + 1) * l * c, last_.data() + b * c);
    return last_;
  }

  // x_ = wte(tokens) + positions first .. first + L − 1.
  void embed(const token_tensor& tokens, std::int64_t first) {
    const auto& e = wte_.forward(tokens);
    const std::int64_t n = tokens.dim(0), l = tokens.dim(1), c = o_.n_embd;
    x_.resize({n, l, c});
    parallel_for(n * l, n * l * c, [&](std::int64_t r) {
      const T *a, *b;
      position_rows(first + r % l, a, b);
      const T* t = e.data() + r * c;
      T* x = x_.data() + r * c;
      if (b)
        for (std::int64_t j = 0; j < c; ++j) x[j] = t[j] + (a[j] + b[j]);
      else
        for (std::int64_t j = 0; j < c; ++j) x[j] = t[j] + a[j];
    });
  }

  // Position gradients of the last forward (positions 0 .. L − 1), serial over rows: positions repeat across the batch.
  void add_position_gradients(const tensor<T, B>& dx) {
    const std::int64_t n = dx.dim(0), l = dx.dim(1), c = o_.n_embd, lt = o_.text_length;
    T* gp = wpe_.grad_to_add();
    T* gr = wpe_row_.grad_to_add();
    T* gc = wpe_col_.grad_to_add();
    for (std::int64_t r = 0; r < n * l; ++r) {
      const std::int64_t p = r % l;
      const T* g = dx.data() + r * c;
      if (p < lt) {
        for (std::int64_t j = 0; j < c; ++j) gp[p * c + j] += g[j];
      } else {
        T* row = gr + ((p - lt) / o_.image_width) * c;
        T* col = gc + ((p - lt) % o_.image_width) * c;
        for (std::int64_t j = 0; j < c; ++j) {
          row[j] += g[j];
          col[j] += g[j];
        }
      }
    }
  }

  // Cross-entropy of one part of the logits: rows `from` .. from + count − 1 of each sequence, columns col0 ..
  // col0 + cols − 1, against targets [N, count]; scatters scale·dlogits into *dlogits when given.
  double part_loss(const tensor<T, B>& logits, std::int64_t from, std::int64_t count, std::int64_t col0,
                   std::int64_t cols, const tensor<std::int32_t, B>& targets, double scale, tensor<T, B>* dlogits) {
    const std::int64_t n = logits.dim(0), l = logits.dim(1), v = logits.dim(2);
    part_.resize({n * count, cols});
    for (std::int64_t b = 0; b < n; ++b)
      for (std::int64_t i = 0; i < count; ++i) {
        const T* src = logits.data() + ((b * l + from + i) * v + col0);
        std::copy(src, src + cols, part_.data() + (b * count + i) * cols);
      }
    const double loss = ops::cross_entropy_loss(part_, targets, dlogits ? &dpart_ : nullptr);
    if (dlogits) {
      const T s = static_cast<T>(scale);
      for (std::int64_t b = 0; b < n; ++b)
        for (std::int64_t i = 0; i < count; ++i) {
          const T* src = dpart_.data() + (b * count + i) * cols;
          T* dst = dlogits->data() + ((b * l + from + i) * v + col0);
          for (std::int64_t j = 0; j < cols; ++j) dst[j] = s * src[j];
        }
    }
    return loss;
  }

  gpt_prior_loss losses(const tensor<T, B>& logits, const token_tensor& text, const token_tensor& image,
                        tensor<T, B>* dlogits) {
    const std::int64_t n = text.dim(0), lt = o_.text_length, hw = image_tokens();
    const double w = o_.text_loss_weight;
    if (dlogits) {
      dlogits->resize(logits.shape());
      dlogits->zero();
    }
    gpt_prior_loss r;
    targets_.resize({n * hw});
    std::copy(image.data(), image.data() + n * hw, targets_.data());
    r.image_nll = part_loss(logits, lt - 1, hw, o_.text_vocab, o_.image_vocab, targets_, 1.0 - w, dlogits);
    if (w > 0 && lt > 1) {
      targets_.resize({n * (lt - 1)});
      for (std::int64_t b = 0; b < n; ++b)
        std::copy(text.data() + b * lt + 1, text.data() + (b + 1) * lt, targets_.data() + b * (lt - 1));
      r.text_nll = part_loss(logits, 0, lt - 1, 0, o_.text_vocab, targets_, w, dlogits);
    }
    r.loss = (1.0 - w) * r.image_nll + w * r.text_nll;
    return r;
  }

  gpt_prior_options o_;
  Embedding<T, B> wte_;
  parameter<T> wpe_, wpe_row_, wpe_col_;
  std::vector<TransformerBlock<T, B>> blocks_;
  LayerNorm<T, B> ln_f_;
  Linear<T, B> lm_head_;
  parameter_store<T, B> store_;
  dist::gradient_sync<T>* sync_ = nullptr;
  bool forwarded_ = false;
  tensor<T, B> x_, last_, dlogits_, part_, dpart_;
  token_tensor text_work_, targets_;
};

// The options a file written by GPTPrior::save records in its metadata, so that a saved prior can be rebuilt
// without its training configuration: GPTPrior<T> model(load_gpt_prior_options(file)); model.load(file).
inline gpt_prior_options load_gpt_prior_options(const std::filesystem::path& path) {
  const auto file = io::safetensors_file::load(path);
  const auto it = file.metadata.find("options");
  check(it != file.metadata.end() && file.metadata.count("model") && file.metadata.at("model") == "gpt_prior", [&] {
    return cat("'", path.string(), "' was not written by GPTPrior::save (its metadata has no model=gpt_prior options)");
  });
  gpt_prior_options o;
  const std::map<std::string, std::int64_t*> sizes = {
      {"text_vocab", &o.text_vocab}, {"text_length", &o.text_length}, {"image_vocab", &o.image_vocab},
      {"image_height", &o.image_height}, {"image_width", &o.image_width}, {"n_layer", &o.n_layer},
      {"n_head", &o.n_head}, {"n_embd", &o.n_embd}};
  std::istringstream in(it->second);
  std::int64_t found = 0;
  for (std::string item; in >> item;) {
    const auto eq = item.find('=');
    const std::string key = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
    try {
      if (const auto s = sizes.find(key); s != sizes.end()) *s->second = std::stoll(value), ++found;
      else if (key == "text_loss_weight") o.text_loss_weight = std::stod(value);
      else if (key == "caption_dropout") o.caption_dropout = std::stod(value);
      else if (key == "empty_text_token") o.empty_text_token = static_cast<std::int32_t>(std::stol(value));
    } catch (const std::exception&) {
      vae::detail::throw_error(cat("'", path.string(), "': GPTPrior option '", item, "' is not a number"));
    }
  }
  check(found == static_cast<std::int64_t>(sizes.size()), [&] {
    return cat("'", path.string(), "': the GPTPrior options '", it->second, "' lack some of the sizes");
  });
  return o;
}

}  // namespace vae
