// gpt_prior_bench: GPTPrior at the sizes of ../shared/reference/transformer_prior.py (4 layers, d 256, 4 heads), one
// JSON line per run.
//   gpt_prior_bench [--batch 1] [--reps 3] [--cache-only]    sampling 1024 tokens (vocab 2048, 8-token prefix, 32x32)
//                                                            with the KV cache against recomputing the prefix
//   gpt_prior_bench --train [--batch 128] [--reps 6]         training: 8 caption + 49 image tokens (vocab 512), Adam

// The uncached time is estimated as the reference script does: one step timed at several context lengths, integrated
// over the 1024 steps (piecewise linear), with a direct run of the first 64 steps as a check of the estimate.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/resource.h>
#include <vector>

#include "bench_common.hpp"
#include "vae/models/gpt_prior.hpp"
#include "vae/train/adam.hpp"
#include "vae/transformer/sampler.hpp"

namespace {
// transformer_prior.py's model: 4 layers, d 256, 4 heads, an 8-token prefix over 128 caption tokens, a side x side grid.
vae::gpt_prior_options reference_sizes(std::int64_t image_vocab, std::int64_t side) {
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
int train(std::int64_t batch, int reps) {
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
  std::printf("{\"bench\": \"gpt_train\", \"model\": \"GPTPrior 4L d256 4h, seq 8+49 (input 56), vocab 512 (+128 text)\", "
              "\"batch\": %lld, \"threads\": %d, \"params\": %lld, \"step_ms\": %.1f, \"image_tokens_per_s\": %.1f, "
              "\"windows\": %zu, \"loss_last\": %.3f}\n",
              static_cast<long long>(batch), vae::max_threads(), static_cast<long long>(model.parameters().size()),
              st * 1e3, double(batch * 49) / st, windows.size(), loss);
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  std::int64_t batch = 0;
  int reps = 0;
  bool cache_only = false, training = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--cache-only")) cache_only = true;
    if (!std::strcmp(argv[i], "--train")) training = true;
  }
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--batch")) batch = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
  }
  if (training) return train(batch > 0 ? batch : 128, reps > 0 ? reps : 6);
  if (batch <= 0) batch = 1;
  if (reps <= 0) reps = 3;
  using vae_bench::median;
  using vae_bench::now;
  const vae::gpt_prior_options o = reference_sizes(2048, 32);
  vae::GPTPrior<float> model(o, 0);
  const std::int64_t n_tokens = model.image_tokens(), prefix = o.text_length;
  vae::tensor<std::int32_t> text({batch, prefix});
  for (std::int64_t i = 0; i < text.numel(); ++i) text[i] = static_cast<std::int32_t>(1 + i % 127);
  vae::sampling_options so;
  so.seed = 1;

  // KV cache: the whole 1024-token sample, median of reps.
  vae::sample_image_tokens(model, text, so);  // warm-up
  std::vector<double> cached;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
    vae::sample_image_tokens(model, text, so);
    cached.push_back(now() - t0);
  }
  const double tc = median(cached);
  // The cache's own size, and the process's peak resident memory so far (model, cache, activations).
  const double cache_mib = double(model.make_cache(batch).bytes()) / (1 << 20);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double peak_mib = double(usage.ru_maxrss) / 1024;
  if (cache_only) {
    std::printf("{\"bench\": \"kv_cache_sample\", \"batch\": %lld, \"threads\": %d, \"kv_cache_seconds_1024\": %.3f, "
                "\"kv_cache_tokens_per_s\": %.1f, \"kv_cache_mib\": %.1f, \"peak_rss_mib\": %.1f}\n",
                static_cast<long long>(batch), vae::max_threads(), tc, double(batch * n_tokens) / tc, cache_mib, peak_mib);
    return 0;
  }

  // No cache: one step (a forward of the whole prefix, last position's logits) at several context lengths.
  const std::vector<std::int64_t> ctxs{prefix, 128, 256, 512, 768, prefix + n_tokens - 1};
  std::vector<double> per;
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
  }
  auto interp = [&](double l) {
    for (std::size_t k = 0; k + 1 < ctxs.size(); ++k)
      if (l <= double(ctxs[k + 1])) {
        const double f = (l - double(ctxs[k])) / double(ctxs[k + 1] - ctxs[k]);
        return per[k] + f * (per[k + 1] - per[k]);
      }
    return per.back();
  };
  double est = 0;
  for (std::int64_t l = prefix; l < prefix + n_tokens; ++l) est += interp(double(l));
  // Direct check: the uncached sampler's first 64 steps on a model with a 64-token image (same layers, same widths).
  vae::gpt_prior_options small = o;
  small.image_height = 8;
  small.image_width = 8;
  vae::GPTPrior<float> short_model(small, 0);
  const double d0 = now();
  vae::sample_image_tokens_uncached(short_model, text, so);
  const double direct = now() - d0;
  double est_direct = 0;
  for (std::int64_t l = prefix; l < prefix + 64; ++l) est_direct += interp(double(l));

  std::printf(
      "{\"bench\": \"kv_cache_sample\", \"model\": \"GPTPrior 4L d256 4h, vocab 2048 (+128 text), 1024 tokens + 8 prefix\", "
      "\"batch\": %lld, \"threads\": %d, \"kv_cache_seconds_1024\": %.3f, \"kv_cache_tokens_per_s\": %.1f, "
      "\"kv_cache_mib\": %.1f, \"peak_rss_mib_after_cached\": %.1f, "
      "\"nocache_seconds_1024_est\": %.2f, \"nocache_tokens_per_s_est\": %.2f, \"nocache_step_ms_at_ctx\": {",
      static_cast<long long>(batch), vae::max_threads(), tc, double(batch * n_tokens) / tc, cache_mib, peak_mib, est,
      double(batch * n_tokens) / est);
  for (std::size_t k = 0; k < ctxs.size(); ++k)
    std::printf("%s\"%lld\": %.2f", k ? ", " : "", static_cast<long long>(ctxs[k]), per[k] * 1e3);
  std::printf("}, \"nocache_direct_64_s\": %.3f, \"nocache_direct_vs_est\": %.3f, \"speedup_cache\": %.1f}\n", direct,
              direct / est_direct, est / tc);
  return 0;
}
