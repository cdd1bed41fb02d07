// sample_quality: `vae eval --fid`: Fréchet distance, improved precision/recall and Inception-style score of a run's
// samples (or reconstructions, or training images) against its test set, in a classifier run's feature space.
#pragma once
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/classifier_runner.hpp"
#include "cli/runner.hpp"
#include "vae/data/dataset.hpp"
#include "vae/io/npy.hpp"
#include "vae/metrics/frechet_distance.hpp"
#include "vae/metrics/inception_score.hpp"
#include "vae/metrics/precision_recall.hpp"

namespace vae::cli {

struct sample_quality_request {
  std::string of;            // samples | reconstructions | train; empty: samples for VAEs, reconstructions for other
                             // image models, train for a classifier run
  std::int64_t n = 10000;    // images on each side (the real side is capped at the test set's size)
  std::int64_t k = 3;        // neighbourhood size of precision/recall
  std::uint64_t seed = 0;    // the samples' draws
  std::string save_images;   // a directory: real.npy and generated.npy, float32 [N, C, H, W] in [0, 1]
};

namespace detail {
// Fills `out` [n, C, H, W] by calling make(begin, end, part) on batches of at most 500 images.
inline void in_batches(std::int64_t n, const image_shape& s, tensor<float>& out,
                       const std::function<void(std::int64_t, std::int64_t, tensor<float>&)>& make) {
  out.resize({n, s.c, s.h, s.w});
  tensor<float> part;
  for (std::int64_t b = 0; b < n; b += 500) {
    const std::int64_t e = std::min(n, b + 500);
    make(b, e, part);
    check(part.numel() == (e - b) * s.pixels(), [&] {
      return cat("sample quality: a batch of ", e - b, " images came back as ", part.shape(), ", expected [", e - b,
                 ", ", s.c, ", ", s.h, ", ", s.w, "]");
    });
    std::copy(part.data(), part.data() + part.numel(), out.data() + b * s.pixels());
  }
}
}  // namespace detail

// The sample-quality numbers of `model` (trained on `data`) measured by `classifier` (a classifier run's model).
// `note` receives progress lines and warnings.
inline nlohmann::json measure_sample_quality(runner& model, const data::dataset& data, const image_shape& s,
                                             feature_extractor& classifier, const std::string& classifier_name,
                                             const sample_quality_request& req,
                                             const std::function<void(const std::string&)>& note) {
  const image_shape cs = classifier.input_shape();
  check(cs.c == s.c && cs.h == s.h && cs.w == s.w, [&] {
    return cat("--classifier ", classifier_name, " takes ", cs.c, "x", cs.h, "x", cs.w, " images but the evaluated run's are ",
               s.c, "x", s.h, "x", s.w, ": train a classifier on the same data (vae train --model classifier --data ...)");
  });
  check(req.n >= 2, [&] { return cat("--n must be at least 2 for --fid, got ", req.n); });
  const std::string of = !req.of.empty()       ? req.of
                         : model.generative()   ? "samples"
                         : model.reconstructs() ? "reconstructions"
                                                : "train";
  check(of == "samples" || of == "reconstructions" || of == "train",
        [&] { return cat("--of must be samples, reconstructions or train, got '", of, "'"); });
  check(of != "samples" || model.generative(), [&] {
    return cat("--of samples: a ", model.family(), " run cannot sample; use --of reconstructions");
  });
  check(of != "reconstructions" || model.reconstructs(),
        [&] { return cat("--of reconstructions: a ", model.family(), " run does not reconstruct images"); });
  const std::int64_t n_real = std::min(req.n, data.test_images.dim(0));
  if (n_real < req.n)
    note(cat("sample quality: the test set has ", data.test_images.dim(0), " images; using them all as the real set"));
  const std::int64_t n_gen = of == "samples" ? req.n : (of == "train" ? std::min(req.n, data.train_images.dim(0)) : n_real);

  tensor<float> real, generated;
  detail::slice_rows(data.test_images, 0, n_real, real);
  model.set_training(false);
  note(cat("sample quality: ", n_gen, " ", of, " against ", n_real, " test images, in the features of ", classifier_name));
  if (of == "samples") {
    generator rng(req.seed ^ 0xf1dULL);
    detail::in_batches(n_gen, s, generated, [&](std::int64_t b, std::int64_t e, tensor<float>& part) {
      model.sample(e - b, rng, part);
    });
  } else if (of == "reconstructions") {
    tensor<float> x;
    detail::in_batches(n_gen, s, generated, [&](std::int64_t b, std::int64_t e, tensor<float>& part) {
      detail::slice_rows(data.test_images, b, e, x);
      model.reconstruct(x, part);
    });
  } else {
    detail::slice_rows(data.train_images, 0, n_gen, generated);
  }
  real.reshape({n_real, s.c, s.h, s.w});
  generated.reshape({n_gen, s.c, s.h, s.w});
  if (!req.save_images.empty()) {
    std::filesystem::create_directories(req.save_images);
    io::write_npy((std::filesystem::path(req.save_images) / "real.npy").string(), real);
    io::write_npy((std::filesystem::path(req.save_images) / "generated.npy").string(), generated);
    note(cat("sample quality: wrote real.npy and generated.npy in ", req.save_images));
  }

  metrics::feature_matrix f_real, p_real, f_gen, p_gen;
  classifier.extract(real, f_real, p_real);
  classifier.extract(generated, f_gen, p_gen);
  check(f_gen.allFinite(), [&] {
    return cat("sample quality: the classifier's features of the ", of, " are not finite (NaN or inf images?)");
  });
  note("sample quality: features done; Fréchet distance, precision/recall (k = " + std::to_string(req.k) + ")");
  const auto fd = metrics::frechet_distance(f_real, f_gen);
  if (!fd.warning.empty()) note("warning: " + fd.warning);
  const auto pr = metrics::precision_recall(f_real, f_gen, req.k);
  nlohmann::json j = {{"fid", fd.distance},
                      {"fid_mean_term", fd.mean_term},
                      {"fid_trace_term", fd.trace_term},
                      {"precision", pr.precision},
                      {"recall", pr.recall},
                      {"pr_k", pr.k},
                      {"inception_score", metrics::inception_score(p_gen)},
                      {"inception_score_real", metrics::inception_score(p_real)},
                      {"fid_of", of},
                      {"fid_n_real", n_real},
                      {"fid_n_generated", n_gen},
                      {"feature_dim", classifier.feature_dim()},
                      {"fid_classifier", classifier_name}};
  if (!fd.warning.empty()) j["fid_warning"] = fd.warning;
  // Reconstructions keep their image's class: the share the classifier still labels right.
  const auto& labels = of == "train" ? data.train_labels : data.test_labels;
  if (of != "samples" && static_cast<std::int64_t>(labels.size()) >= n_gen) {
    std::int64_t right = 0;
    for (std::int64_t i = 0; i < n_gen; ++i) {
      Eigen::Index best = 0;
      p_gen.row(i).maxCoeff(&best);
      right += static_cast<std::int32_t>(best) == labels[static_cast<std::size_t>(i)];
    }
    j["class_accuracy"] = static_cast<double>(right) / static_cast<double>(n_gen);
  }
  return j;
}

}  // namespace vae::cli
