// Sampling image tokens from a GPTPrior: a batched KV cache, temperature, top-k, top-p (nucleus), classifier-free
// guidance with the conditional and unconditional rows in one batch, priming with given first tokens; seeded.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "vae/backend/cpu.hpp"
#include "vae/core/error.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"
#include "vae/models/gpt_prior.hpp"

namespace vae {

struct sampling_options {
  double temperature = 1.0;           // ≥ 0: logits / temperature; 0 takes the most likely token (greedy)
  std::optional<std::int64_t> top_k;  // keep the k most likely tokens, 1 ≤ k ≤ the image vocabulary
  std::optional<double> top_p;        // keep the fewest most likely tokens whose probability reaches p, p in (0, 1]
  double cfg_scale = 1.0;             // s ≥ 0: logits = uncond + s·(cond − uncond); 1 = conditional only, 0 = unconditional
  std::uint64_t seed = 0;             // one uniform draw per image per token, in image order
  // Called after each sampled position with (positions done, positions to sample), e.g. for a progress bar.
  std::function<void(std::int64_t, std::int64_t)> progress;
};

// Refuses options outside their ranges, naming the range (vocab: the number of tokens sampled from).
inline void check_sampling_options(const sampling_options& o, std::int64_t vocab) {
  check(std::isfinite(o.temperature) && o.temperature >= 0, [&] {
    return cat("sampling: temperature must be ≥ 0 (0 = greedy), got ", o.temperature);
  });
  check(!o.top_k || (*o.top_k >= 1 && *o.top_k <= vocab), [&] {
    return cat("sampling: top_k must be in [1, ", vocab, "] (the image vocabulary), got ", *o.top_k);
  });
  check(!o.top_p || (*o.top_p > 0 && *o.top_p <= 1), [&] {
    return cat("sampling: top_p must be in (0, 1], got ", *o.top_p);
  });
  check(std::isfinite(o.cfg_scale) && o.cfg_scale >= 0, [&] {
    return cat("sampling: cfg_scale must be ≥ 0 (1 = no guidance, 0 = unconditional), got ", o.cfg_scale);
  });
}

// Classifier-free guidance of one row, in place: cond ← uncond + s·(cond − uncond); exactly cond at s = 1 and exactly
// uncond at s = 0.
template <class T>
void guide_logits(std::span<T> cond, std::span<const T> uncond, double scale) {
  check(cond.size() == uncond.size(), "guide_logits: the two rows differ in length");
  if (scale == 1.0) return;
  const T s = static_cast<T>(scale);
  for (std::size_t i = 0; i < cond.size(); ++i) cond[i] = uncond[i] + s * (cond[i] - uncond[i]);
}

namespace detail {
// Indices of a row by decreasing value, ties by increasing index (so the support kept never depends on the sort).
template <class T>
std::vector<std::int64_t> by_decreasing_value(std::span<const T> v) {
  std::vector<std::int64_t> order(v.size());
  std::iota(order.begin(), order.end(), std::int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return v[a] > v[b]; });
  return order;
}
}  // namespace detail

// Top-k in place: every logit but the k largest becomes −∞ (exactly k kept; ties at the boundary go to lower indices).
template <class T>
void keep_top_k(std::span<T> logits, std::int64_t k) {
  check(k >= 1, [&] { return cat("keep_top_k: k must be ≥ 1, got ", k); });
  if (k >= static_cast<std::int64_t>(logits.size())) return;
  const auto order = detail::by_decreasing_value<T>(logits);
  for (std::size_t r = static_cast<std::size_t>(k); r < order.size(); ++r)
    logits[order[r]] = -std::numeric_limits<T>::infinity();
}

// Top-p (nucleus) in place: keeps the fewest most likely tokens whose softmax probability sums to ≥ p (the token that
// crosses p included), the rest become −∞. p = 1 keeps every token.
template <class T>
void keep_top_p(std::span<T> logits, double p) {
  check(p > 0 && p <= 1, [&] { return cat("keep_top_p: p must be in (0, 1], got ", p); });
  if (p >= 1) return;
  const auto order = detail::by_decreasing_value<T>(logits);
  const double m = static_cast<double>(logits[order[0]]);
  double total = 0;
  for (const T v : logits) total += std::exp(static_cast<double>(v) - m);
  double cumulative = 0;
  std::size_t kept = 0;
  while (kept < order.size() && cumulative < p * total)
    cumulative += std::exp(static_cast<double>(logits[order[kept++]]) - m);
  for (std::size_t r = kept; r < order.size(); ++r) logits[order[r]] = -std::numeric_limits<T>::infinity();
}

// Draws one index from a row of logits (modified in place): temperature, then top-k, then top-p, then the inverse
// CDF of the softmax at u in [0, 1). Temperature 0 returns the first largest logit.
template <class T>
std::int64_t sample_logits(std::span<T> logits, const sampling_options& o, double u) {
  if (o.temperature == 0) return std::max_element(logits.begin(), logits.end()) - logits.begin();
  if (o.temperature != 1) {
    const T inv = static_cast<T>(1.0 / o.temperature);
    for (T& v : logits) v *= inv;
  }
  if (o.top_k) keep_top_k(logits, *o.top_k);
  if (o.top_p) keep_top_p(logits, *o.top_p);
  const double m = static_cast<double>(*std::max_element(logits.begin(), logits.end()));
  double total = 0;
  for (const T v : logits) total += std::exp(static_cast<double>(v) - m);
  const double target = u * total;
  double cumulative = 0;
  std::int64_t last = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    const double e = std::exp(static_cast<double>(logits[i]) - m);
    if (e == 0) continue;
    cumulative += e;
    last = static_cast<std::int64_t>(i);
    if (cumulative > target) return last;
  }
  return last;  // u·total rounded past the sum: the last token with any probability
}

namespace detail {
template <class T, class B>
void check_sampling_call(GPTPrior<T, B>& model, const tensor<std::int32_t, B>& text, const sampling_options& o,
                         const tensor<std::int32_t, B>* prime) {
  const auto& mo = model.options();
  check(text.rank() == 2 && text.dim(1) == mo.text_length, [&] {
    return cat("sampling: expected captions [n, ", mo.text_length, "] (one row of caption tokens per image), got ",
               text.shape());
  });
  check(text.dim(0) >= 1, [&] { return cat("sampling: n (images to sample) must be ≥ 1, got ", text.dim(0)); });
  check_sampling_options(o, mo.image_vocab);
  if (prime) {
    check(prime->rank() == 2 && prime->dim(0) == text.dim(0) && prime->dim(1) <= model.image_tokens(), [&] {
      return cat("sampling: expected priming tokens [", text.dim(0), ", P] with P ≤ ", model.image_tokens(),
                 ", got ", prime->shape());
    });
    for (std::int64_t i = 0; i < prime->numel(); ++i)
      check((*prime)[i] >= 0 && (*prime)[i] < mo.image_vocab, [&] {
        return cat("sampling: priming token ", (*prime)[i], " is outside the image vocabulary 0..", mo.image_vocab - 1);
      });
  }
}

// Rows fed to the model: the n captions, then (with guidance) n empty captions; each followed by the priming tokens.
template <class T, class B>
tensor<std::int32_t, B> first_rows(GPTPrior<T, B>& model, const tensor<std::int32_t, B>& text,
                                   const tensor<std::int32_t, B>* prime, bool guided) {
  const auto& mo = model.options();
  const std::int64_t n = text.dim(0), lt = mo.text_length, p = prime ? prime->dim(1) : 0, rows = guided ? 2 * n : n;
  tensor<std::int32_t, B> seq({rows, lt + p});
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t b = r % n;
    for (std::int64_t i = 0; i < lt; ++i) seq[r * (lt + p) + i] = r < n ? text[b * lt + i] : mo.empty_text_token;
    for (std::int64_t i = 0; i < p; ++i)
      seq[r * (lt + p) + lt + i] = static_cast<std::int32_t>(mo.text_vocab) + (*prime)[b * p + i];
  }
  return seq;
}

// The images a sampling call draws for: images [first, first + n) of a batch of `total`. Image b's uniform at its
// d-th sampled position is draw d·total + b of the seed's counter stream, whichever call or thread samples it, so a
// batch split into groups draws what the whole batch would.
struct draw_slice {
  std::int64_t first = 0, total = 0;
};

// Samples position t of every image from logits rows [rows, ·, Vt + Vi] (the last position of each row used); `d`
// positions were sampled before this one.
template <class T, class B>
void sample_position(const GPTPrior<T, B>& model, const tensor<T, B>& logits, std::int64_t n, bool guided,
                     const sampling_options& o, draw_slice draws, std::int64_t d, std::vector<T>& row,
                     tensor<std::int32_t, B>& out, std::int64_t t) {
  const auto& mo = model.options();
  const std::int64_t v = logits.dim(2), per_row = logits.dim(1) * v, vi = mo.image_vocab, hw = model.image_tokens();
  row.resize(static_cast<std::size_t>(vi));
  for (std::int64_t b = 0; b < n; ++b) {
    const T* cond = logits.data() + b * per_row + (logits.dim(1) - 1) * v + mo.text_vocab;
    std::copy(cond, cond + vi, row.begin());
    if (guided)
      guide_logits<T>(row, std::span<const T>(cond + n * per_row, static_cast<std::size_t>(vi)), o.cfg_scale);
    const double u = counter_uniform(o.seed, static_cast<std::uint64_t>(d * draws.total + draws.first + b), 0);
    out[b * hw + t] = static_cast<std::int32_t>(sample_logits<T>(row, o, u));
  }
}

// The sampling loop shared by both samplers. Feeder: start(rows [R, Lt + P]) and feed(next [R, 1]) return logits whose
// last position per row predicts the next image token.
template <class T, class B, class Feeder>
tensor<std::int32_t, B> sample_with(GPTPrior<T, B>& model, const tensor<std::int32_t, B>& text,
                                    const sampling_options& o, const tensor<std::int32_t, B>* prime, Feeder&& feeder,
                                    draw_slice draws = {}) {
  check_sampling_call(model, text, o, prime);
  if (draws.total == 0) draws = {0, text.dim(0)};
  model.parameters().freeze_for_inference();
  const std::int64_t n = text.dim(0), hw = model.image_tokens(), p = prime ? prime->dim(1) : 0;
  const bool guided = o.cfg_scale != 1.0;
  const std::int64_t rows = guided ? 2 * n : n;
  tensor<std::int32_t, B> out({n, hw});
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t i = 0; i < p; ++i) out[b * hw + i] = (*prime)[b * p + i];
  if (p == hw) return out;
  std::vector<T> row;
  const tensor<T, B>* logits = &feeder.start(first_rows(model, text, prime, guided));
  tensor<std::int32_t, B> next({rows, 1});
  for (std::int64_t t = p; t < hw; ++t) {
    sample_position(model, *logits, n, guided, o, draws, t - p, row, out, t);
    if (o.progress) o.progress(t - p + 1, hw - p);
    if (t + 1 == hw) break;
    for (std::int64_t r = 0; r < rows; ++r)
      next[r] = static_cast<std::int32_t>(model.options().text_vocab) + out[(r % n) * hw + t];
    logits = &feeder.feed(next);
  }
  return out;
}
}  // namespace detail

namespace detail {
// Rows [first, last) of a row-major [N, ...] token tensor.
template <class B>
tensor<std::int32_t, B> token_rows(const tensor<std::int32_t, B>& x, std::int64_t first, std::int64_t last) {
  const std::int64_t w = x.dim(1);
  tensor<std::int32_t, B> part({last - first, w});
  std::copy(x.data() + first * w, x.data() + last * w, part.data());
  return part;
}

// The KV-cache sampler over one model: make_cache at the first call, then one position per call.
template <class T, class B>
struct kv_feeder {
  GPTPrior<T, B>& model;
  std::optional<kv_cache<T, B>> cache;
  const tensor<T, B>& start(const tensor<std::int32_t, B>& rows) {
    cache.emplace(model.make_cache(rows.dim(0)));
    return model.forward_cached(rows, *cache, true);
  }
  const tensor<T, B>& feed(const tensor<std::int32_t, B>& next) { return model.forward_cached(next, *cache); }
};

// Groups of images sample_image_tokens splits a batch of n into: one per OpenMP thread, each sampled end to end on
// its thread. A sampled position is a few small products (one row per image); a fork and join around each of them
// costs more than the product, all the more under a passive wait policy, whereas a group runs from the first position
// to the last without meeting the other threads. One group (the whole batch, products split across the threads)
// where the batch has one image, inside a parallel region, or on one thread.
template <class B>
std::int64_t sampling_groups(std::int64_t n) {
  if constexpr (!HostBackend<B>) {
    return 1;
  } else {
#if defined(_OPENMP)
    if (omp_in_parallel()) return 1;
#endif
    return std::min<std::int64_t>(n, max_threads());
  }
}
}  // namespace detail

// Samples the image tokens [n, H·W] of n captions text [n, Lt] with a KV cache. prime (optional) [n, P] gives each
// image's first P tokens (completion). With cfg_scale ≠ 1 every caption also runs as the empty caption in the same
// batch (2n rows). Freezes the model's store for inference (parameter_store::freeze_for_inference: the Linear
// weights read as inference panels, the same results bit for bit); the next optimizer step or load thaws it.
// On several threads the images are split into one contiguous group per thread (detail::sampling_groups), each on its
// own copy of the model (the first group on `model` itself) and its own cache; o.progress reports the first group.
// Every image draws its own uniforms (detail::draw_slice), so the same options, seed and thread count give the same
// tokens, and another thread count the same tokens up to the float rounding of the logits (products of fewer rows).
template <class T, class B>
tensor<std::int32_t, B> sample_image_tokens(GPTPrior<T, B>& model, const tensor<std::int32_t, B>& text,
                                            const sampling_options& o,
                                            const tensor<std::int32_t, B>* prime = nullptr) {
  const std::int64_t n = text.rank() >= 1 ? text.dim(0) : 0, groups = detail::sampling_groups<B>(n);
  if (groups <= 1) return detail::sample_with(model, text, o, prime, detail::kv_feeder<T, B>{model, std::nullopt});
  detail::check_sampling_call(model, text, o, prime);  // here: nothing may throw out of the threads below
  std::vector<std::unique_ptr<GPTPrior<T, B>>> copies;
  for (std::int64_t g = 1; g < groups; ++g) {
    copies.push_back(std::make_unique<GPTPrior<T, B>>(model.options()));
    const auto& from = std::as_const(model.parameters());
    std::copy(from.values(), from.values() + from.size(), copies.back()->parameters().values());
  }
  tensor<std::int32_t, B> out({n, model.image_tokens()});
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(groups));
  parallel_for(groups, std::numeric_limits<std::int64_t>::max(), [&](std::int64_t g) {
    try {
      const std::int64_t first = g * n / groups, last = (g + 1) * n / groups;
      GPTPrior<T, B>& m = g == 0 ? model : *copies[static_cast<std::size_t>(g - 1)];
      sampling_options og = o;
      if (g != 0) og.progress = nullptr;
      const auto part_prime = prime ? detail::token_rows(*prime, first, last) : tensor<std::int32_t, B>();
      const auto part = detail::sample_with(m, detail::token_rows(text, first, last), og,
                                            prime ? &part_prime : nullptr, detail::kv_feeder<T, B>{m, std::nullopt},
                                            detail::draw_slice{first, n});
      std::copy(part.data(), part.data() + part.numel(), out.data() + first * model.image_tokens());
    } catch (...) {
      errors[static_cast<std::size_t>(g)] = std::current_exception();
    }
  });
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  return out;
}

// The same sampling without a cache: every position re-runs the model over the whole prefix. Gives the tokens of
// sample_image_tokens (up to the float rounding of the logits); what the KV cache is measured against.
template <class T, class B>
tensor<std::int32_t, B> sample_image_tokens_uncached(GPTPrior<T, B>& model, const tensor<std::int32_t, B>& text,
                                                     const sampling_options& o,
                                                     const tensor<std::int32_t, B>* prime = nullptr) {
  struct recomputed {
    GPTPrior<T, B>& model;
    tensor<std::int32_t, B> seq;
    const tensor<T, B>& start(const tensor<std::int32_t, B>& rows) {
      seq = rows;
      return model.forward(seq, true);
    }
    const tensor<T, B>& feed(const tensor<std::int32_t, B>& next) {
      const std::int64_t rows = seq.dim(0), l = seq.dim(1);
      tensor<std::int32_t, B> longer({rows, l + 1});
      for (std::int64_t r = 0; r < rows; ++r) {
        std::copy(seq.data() + r * l, seq.data() + (r + 1) * l, longer.data() + r * (l + 1));
        longer[r * (l + 1) + l] = next[r];
      }
      seq = std::move(longer);
      return model.forward(seq, true);
    }
  };
  return detail::sample_with(model, text, o, prime, recomputed{model, {}});
}

}  // namespace vae
