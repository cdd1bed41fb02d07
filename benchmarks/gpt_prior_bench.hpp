// vae_bench's GPTPrior models at the sizes of ../shared/reference/transformer_prior.py (4 layers, d 256, 4 heads):
//   vae_bench --model gpt-prior [--batch 128]   training: 8 caption + 49 image tokens (vocab 512), Adam
//   vae_bench --model kv-sample --batch 1|16    sampling 1024 tokens (vocab 2048, 8-token prefix, 32x32) with the KV
//                                               cache against recomputing the prefix, and the peak memory of sampling
#pragma once
#include <sys/resource.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "vae/models/gpt_prior.hpp"
#include "vae/train/adam.hpp"
#include "vae/transformer/sampler.hpp"

namespace vae_bench::gpt {
// transformer_prior.py's model: 4 layers, d 256, 4 heads, an 8-token prefix over 128 caption tokens, a side x side grid.
inline vae::gpt_prior_options reference_sizes(std::int64_t image_vocab, std::int64_t side) {
  vae::gpt_prior_options o;
  o.text_vocab = 128;
  o.text_length = 8;
  o.image_vocab = image_vocab;
  o.image_height = o.image_width = side;
  o.n_layer = 4;
  o.n_head = 4;
  o.n_embd = 256;
  return o;
}

// Training throughput as transformer_prior.py measures it: random tokens (the speed does not depend on the data), 3
// warm-up steps, then the median over windows of 3 steps.
inline nlohmann::json train(std::int64_t batch, int reps) {
  using vae_bench::median;
  using vae_bench::now;
  vae::GPTPrior<float> model(reference_sizes(512, 7), 0);
  vae::tensor<std::int32_t> text({batch, 8}), image({batch, 49});
  vae::generator rng(0);
  for (std::int64_t i = 0; i < text.numel(); ++i) text[i] = static_cast<std::int32_t>(rng.below(128));
  for (std::int64_t i = 0; i < image.numel(); ++i) image[i] = static_cast<std::int32_t>(rng.below(512));
  vae::Adam<float> adam({.lr = 1e-3});
  double loss = 0;
  auto step = [&] {
    loss = model.train_step_loss(text, image, rng).loss;
    adam.step_and_zero_grad(model.parameters());
  };
  for (int i = 0; i < 3; ++i) step();
  std::vector<double> windows;
  for (int w = 0; w < reps / 3 + (reps % 3 != 0); ++w) {
    const double t0 = now();
    for (int i = 0; i < 3; ++i) step();
    windows.push_back((now() - t0) / 3);
  }
  const double st = median(windows);
  return {{"bench", "gpt_train"},
          {"model", "GPTPrior 4L d256 4h, seq 8+49 (input 56), vocab 512 (+128 text)"},
          {"batch", batch},
          {"threads", vae::max_threads()},
          {"params", model.parameters().size()},
          {"step_ms", st * 1e3},
          {"image_tokens_per_s", static_cast<double>(batch * 49) / st},
          {"windows", windows.size()},
          {"loss_last", loss}};
}

// Sampling 1024 image tokens at `batch` as transformer_prior.py samples them (full softmax, no top-k/top-p, no
// guidance): the KV cache (median of `reps` after a warm-up), the peak resident memory of the process by then (the
// model, the cache and the sampling activations; nothing bigger ran before), and unless cache_only the uncached
// sampler's time, estimated as the reference estimates it: one step timed at several context lengths, integrated over
// the 1024 steps (piecewise linear), with a direct run of the first 64 steps as a check of the estimate.
inline nlohmann::json sample(std::int64_t batch, int reps, bool cache_only) {
  using vae_bench::median;
  using vae_bench::now;
  const vae::gpt_prior_options o = reference_sizes(2048, 32);
  vae::GPTPrior<float> model(o, 0);
  const std::int64_t n_tokens = model.image_tokens(), prefix = o.text_length;
  vae::tensor<std::int32_t> text({batch, prefix});
  for (std::int64_t i = 0; i < text.numel(); ++i) text[i] = static_cast<std::int32_t>(1 + i % 127);
  vae::sampling_options so;
  so.seed = 1;

  vae::sample_image_tokens(model, text, so);  // warm-up
  std::vector<double> cached;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
    vae::sample_image_tokens(model, text, so);
    cached.push_back(now() - t0);
  }
  const double tc = median(cached);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  nlohmann::json j = {{"bench", "kv_cache_sample"},
                      {"model", "GPTPrior 4L d256 4h, vocab 2048 (+128 text), 1024 tokens + 8 prefix"},
                      {"batch", batch},
                      {"threads", vae::max_threads()},
                      {"kv_cache_seconds_1024", tc},
                      {"kv_cache_tokens_per_s", static_cast<double>(batch * n_tokens) / tc},
                      {"kv_cache_mib", static_cast<double>(model.make_cache(batch).bytes()) / (1 << 20)},
                      {"peak_rss_mib_after_cached", static_cast<double>(usage.ru_maxrss) / 1024}};
  if (cache_only) return j;

  // No cache: one step (a forward of the whole prefix, last position's logits) at several context lengths.
  const std::vector<std::int64_t> ctxs{prefix, 128, 256, 512, 768, prefix + n_tokens - 1};
  std::vector<double> per;
  nlohmann::json at_ctx;
  for (const auto l : ctxs) {
    vae::tensor<std::int32_t> seq({batch, l});
    for (std::int64_t i = 0; i < seq.numel(); ++i) seq[i] = static_cast<std::int32_t>(i % (o.text_vocab + o.image_vocab));
    model.forward(seq, true);
    std::vector<double> ts;
    for (int r = 0; r < reps; ++r) {
      const double t0 = now();
      model.forward(seq, true);
      ts.push_back(now() - t0);
    }
    per.push_back(median(ts));
    at_ctx[std::to_string(l)] = per.back() * 1e3;
  }
  auto interp = [&](double l) {
    for (std::size_t k = 0; k + 1 < ctxs.size(); ++k)
      if (l <= static_cast<double>(ctxs[k + 1])) {
        const double f = (l - static_cast<double>(ctxs[k])) / static_cast<double>(ctxs[k + 1] - ctxs[k]);
        return per[k] + f * (per[k + 1] - per[k]);
      }
    return per.back();
  };
  double est = 0;
  for (std::int64_t l = prefix; l < prefix + n_tokens; ++l) est += interp(static_cast<double>(l));
  // Direct check: the uncached sampler's first 64 steps on a model with a 64-token image (same layers, same widths).
  vae::gpt_prior_options small = o;
  small.image_height = 8;
  small.image_width = 8;
  vae::GPTPrior<float> short_model(small, 0);
  const double d0 = now();
  vae::sample_image_tokens_uncached(short_model, text, so);
  const double direct = now() - d0;
  double est_direct = 0;
  for (std::int64_t l = prefix; l < prefix + 64; ++l) est_direct += interp(static_cast<double>(l));
  j["nocache_seconds_1024_est"] = est;
  j["nocache_tokens_per_s_est"] = static_cast<double>(batch * n_tokens) / est;
  j["nocache_step_ms_at_ctx"] = at_ctx;
  j["nocache_direct_64_s"] = direct;
  j["nocache_direct_vs_est"] = direct / est_direct;
  j["speedup_cache"] = est / tc;
  return j;
}

}  // namespace vae_bench::gpt

