// runner: one type-erased face for every CLI model (AE, VAE, VQ-VAE) so train/eval/sample share one loop.
#pragma once
#include <cmath>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "vae/core/error.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"
#include "vae/models/autoencoder.hpp"
#include "vae/models/vae.hpp"
#include "vae/models/vqvae.hpp"

namespace vae::cli {

struct eval_request {
  std::int64_t limit = 0;     // evaluate the first `limit` test images (0 = all)
  std::int64_t iwae_k = 0;    // > 0: importance-sampled log p(x) with K samples (VAE only)
  std::int64_t iwae_n = 1000; //   on the first iwae_n test images
  std::int64_t batch = 500;
  bool check_tokens = false;  // vq: decode(encode(x)) must equal reconstruct(x) bit for bit on the evaluated images
};

// The per-image data shape [C, H, W] the run was configured with.
struct image_shape {
  std::int64_t c = 1, h = 28, w = 28;
  std::int64_t pixels() const { return c * h * w; }
};

class runner {
 public:
  virtual ~runner() = default;
  virtual std::string family() const = 0;  // "ae", "vae" or "vq"
  virtual parameter_store<float>& store() = 0;
  virtual void set_training(bool training) = 0;
  // Forward + backward of one batch [N, C, H, W] (grads ADDED; the caller zeroes and steps). Returns the loss.
  virtual double train_step(tensor<float>& x, generator& rng, std::int64_t step) = 0;
  // A short description of the last training loss's parts, for the NaN report.
  virtual std::string last_loss_parts() const { return {}; }
  virtual nlohmann::json evaluate(const tensor<float>& test, generator& rng, const eval_request& req) = 0;
  // The evaluation forward pass on one batch (VAE: per-image ELBO; others: reconstruction), for throughput.
  virtual void eval_batch(tensor<float>& x, generator& rng) {
    (void)rng;
    reconstruct(x, scratch_);
  }
  // Pixels in [0, 1], [N, C, H, W].
  virtual void reconstruct(tensor<float>& x, tensor<float>& out) = 0;
  virtual bool generative() const { return false; }
  virtual void sample(std::int64_t, generator&, tensor<float>&) {
    vae::detail::throw_error(cat("'", family(), "' models cannot sample: train a VAE (mlp-vae, conv-vae)"));
  }
  // Decodes `steps` latents on the line between the codes of images a and b (x holds [2, C, H, W]).
  virtual void interpolate(tensor<float>&, std::int64_t, tensor<float>&) {
    vae::detail::throw_error(cat("'", family(), "' models cannot interpolate: train a VAE"));
  }
  virtual bool has_tokens() const { return false; }
  virtual void encode_tokens(tensor<float>&, tensor<std::int32_t>&) {
    vae::detail::throw_error(cat("'", family(), "' models have no tokens: train a vq-vae"));
  }
  virtual void decode_tokens(const tensor<std::int32_t>&, tensor<float>&) {
    vae::detail::throw_error(cat("'", family(), "' models have no tokens: train a vq-vae"));
  }
  // Statistics gathered over an epoch of training steps (codebook usage); reset at each epoch start.
  virtual void reset_epoch_stats() {}
  virtual nlohmann::json epoch_stats() { return nlohmann::json::object(); }

 protected:
  tensor<float> scratch_;
};

namespace detail {

// Shapes a batch for the model: MLP models take [N, C·H·W], convolutional ones [N, C, H, W].
inline void shape_input(tensor<float>& x, bool flat, const image_shape& s) {
  const auto n = x.dim(0);
  x.reshape(flat ? shape{n, s.pixels()} : shape{n, s.c, s.h, s.w});
}
inline void shape_images(tensor<float>& x, const image_shape& s) { x.reshape(shape{x.dim(0), s.c, s.h, s.w}); }

// Copies rows [begin, end) of an [N, C, H, W] tensor.
inline void slice_rows(const tensor<float>& src, std::int64_t begin, std::int64_t end, tensor<float>& dst) {
  shape s = src.shape();
  const std::int64_t row = src.numel() / src.dim(0);
  s[0] = end - begin;
  dst.resize(s);
  std::copy(src.data() + begin * row, src.data() + end * row, dst.data());
}

inline double squared_error(const tensor<float>& a, const tensor<float>& b) {
  double se = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    const double d = static_cast<double>(a.data()[i]) - static_cast<double>(b.data()[i]);
    se += d * d;
  }
  return se;
}

}  // namespace detail

// Autoencoders: reconstruction loss only.
template <class Model>
class ae_runner final : public runner {
 public:
  ae_runner(Model model, bool flat, image_shape s, generator& init) : model_(std::move(model)), flat_(flat), shape_(s) {
    store_.attach(model_, init);
  }
  std::string family() const override { return "ae"; }
  parameter_store<float>& store() override { return store_; }
  void set_training(bool t) override { model_.set_training(t); }
  double train_step(tensor<float>& x, generator&, std::int64_t) override {
    detail::shape_input(x, flat_, shape_);
    return model_.train_step_loss(x);
  }
  nlohmann::json evaluate(const tensor<float>& test, generator&, const eval_request& req) override {
    const std::int64_t n = req.limit > 0 ? std::min(req.limit, test.dim(0)) : test.dim(0);
    double se = 0;
    for (std::int64_t b = 0; b < n; b += req.batch) {
      detail::slice_rows(test, b, std::min(n, b + req.batch), x_);
      reconstruct(x_, out_);
      detail::shape_images(x_, shape_);
      se += detail::squared_error(out_, x_);
    }
    const double mse = se / static_cast<double>(n * shape_.pixels());
    return {{"test_loss", mse}, {"test_mse", mse}, {"n", n}};
  }
  void reconstruct(tensor<float>& x, tensor<float>& out) override {
    detail::shape_input(x, flat_, shape_);
    model_.reconstruct(x, out);
    detail::shape_images(out, shape_);
  }

 private:
  Model model_;
  parameter_store<float> store_;
  bool flat_;
  image_shape shape_;
  tensor<float> x_, out_;
};

// Variational autoencoders: ELBO training, ELBO / IWAE evaluation, samples and interpolations.
template <class Model>
class vae_runner final : public runner {
 public:
  vae_runner(Model model, bool flat, image_shape s, generator& init) : model_(std::move(model)), flat_(flat), shape_(s) {
    store_.attach(model_, init);
  }
  std::string family() const override { return "vae"; }
  parameter_store<float>& store() override { return store_; }
  void set_training(bool t) override { model_.set_training(t); }
  double train_step(tensor<float>& x, generator& rng, std::int64_t step) override {
    detail::shape_input(x, flat_, shape_);
    return model_.train_step_loss(x, rng, step);
  }
  std::string last_loss_parts() const override {
    const auto& p = model_.last_loss_parts();
    return cat("reconstruction ", p.reconstruction, ", divergence ", p.divergence, ", weighted penalty ", p.penalty);
  }
  nlohmann::json evaluate(const tensor<float>& test, generator& rng, const eval_request& req) override {
    const std::int64_t n = req.limit > 0 ? std::min(req.limit, test.dim(0)) : test.dim(0);
    double elbo_sum = 0, se = 0;
    std::vector<double> per;
    for (std::int64_t b = 0; b < n; b += req.batch) {
      const std::int64_t e = std::min(n, b + req.batch);
      detail::slice_rows(test, b, e, x_);
      detail::shape_input(x_, flat_, shape_);
      per.assign(static_cast<std::size_t>(e - b), 0.0);
      elbo_sum += model_.elbo(x_, rng, per) * static_cast<double>(e - b);
      // Reconstruction error of the posterior mean decoded (the picture a user sees).
      model_.encode(x_, mu_, logvar_);
      model_.decode(mu_, out_);
      se += detail::squared_error(out_, x_);
    }
    const double elbo = elbo_sum / static_cast<double>(n);
    nlohmann::json j = {{"test_elbo", elbo}, {"test_loss", -elbo},
                        {"test_mse", se / static_cast<double>(n * shape_.pixels())}, {"n", n}};
    if (req.iwae_k > 0) {
      const std::int64_t m = std::min(req.iwae_n, test.dim(0));
      double ll = 0;
      const std::int64_t bs = std::max<std::int64_t>(1, std::min<std::int64_t>(req.batch, 100));
      for (std::int64_t b = 0; b < m; b += bs) {
        const std::int64_t e = std::min(m, b + bs);
        detail::slice_rows(test, b, e, x_);
        detail::shape_input(x_, flat_, shape_);
        per.assign(static_cast<std::size_t>(e - b), 0.0);
        ll += model_.iwae_log_likelihood(x_, req.iwae_k, rng, per) * static_cast<double>(e - b);
      }
      ll /= static_cast<double>(m);
      j["test_nll_is"] = -ll;
      j["bits_per_dim"] = -ll / (static_cast<double>(shape_.pixels()) * std::log(2.0));
      j["iwae_k"] = req.iwae_k;
      j["iwae_n"] = m;
    }
    return j;
  }
  void reconstruct(tensor<float>& x, tensor<float>& out) override {
    detail::shape_input(x, flat_, shape_);
    model_.encode(x, mu_, logvar_);
    model_.decode(mu_, out);
    detail::shape_images(out, shape_);
  }
  void eval_batch(tensor<float>& x, generator& rng) override {
    detail::shape_input(x, flat_, shape_);
    per_.assign(static_cast<std::size_t>(x.dim(0)), 0.0);
    model_.elbo(x, rng, per_);
  }
  bool generative() const override { return true; }
  void sample(std::int64_t n, generator& rng, tensor<float>& out) override {
    model_.sample(n, rng, out);
    detail::shape_images(out, shape_);
  }
  void interpolate(tensor<float>& x, std::int64_t steps, tensor<float>& out) override {
    detail::shape_input(x, flat_, shape_);
    model_.encode(x, mu_, logvar_);
    const std::int64_t d = mu_.dim(1);
    z_.resize({steps, d});
    for (std::int64_t s = 0; s < steps; ++s) {
      const float t = steps > 1 ? static_cast<float>(s) / static_cast<float>(steps - 1) : 0.f;
      for (std::int64_t k = 0; k < d; ++k) z_.data()[s * d + k] = (1 - t) * mu_.data()[k] + t * mu_.data()[d + k];
    }
    model_.decode(z_, out);
    detail::shape_images(out, shape_);
  }

 private:
  Model model_;
  parameter_store<float> store_;
  bool flat_;
  image_shape shape_;
  tensor<float> x_, out_, mu_, logvar_, z_;
  std::vector<double> per_;
};

// VQ-VAEs: MSE + quantizer loss; codebook health; tokens.
template <class Model>
class vq_runner final : public runner {
 public:
  vq_runner(Model model, image_shape s, generator& init) : model_(std::move(model)), shape_(s) {
    store_.attach(model_, init);
  }
  std::string family() const override { return "vq"; }
  parameter_store<float>& store() override { return store_; }
  void set_training(bool t) override { model_.set_training(t); }
  double train_step(tensor<float>& x, generator&, std::int64_t step) override {
    detail::shape_images(x, shape_);
    return model_.train_step_loss(x, step);
  }
  std::string last_loss_parts() const override {
    return cat("reconstruction ", model_.last_reconstruction_loss(), ", quantizer ", model_.last_quantizer_loss());
  }
  void reset_epoch_stats() override { model_.stats().reset(); }
  nlohmann::json epoch_stats() override { return stats_json("train_"); }
  nlohmann::json evaluate(const tensor<float>& test, generator&, const eval_request& req) override {
    const std::int64_t n = req.limit > 0 ? std::min(req.limit, test.dim(0)) : test.dim(0);
    model_.stats().reset();
    double se = 0;
    for (std::int64_t b = 0; b < n; b += req.batch) {
      detail::slice_rows(test, b, std::min(n, b + req.batch), x_);
      model_.reconstruct(x_, out_);
      se += detail::squared_error(out_, x_);
    }
    nlohmann::json j = stats_json("");
    if (req.check_tokens) j["token_roundtrip_exact"] = tokens_reproduce_reconstructions(test, n, req.batch);
    const double mse = se / static_cast<double>(n * shape_.pixels());
    j["test_mse"] = mse;
    j["test_loss"] = mse;
    j["n"] = n;
    model_.stats().reset();
    return j;
  }
  void reconstruct(tensor<float>& x, tensor<float>& out) override {
    detail::shape_images(x, shape_);
    model_.reconstruct(x, out);
  }
  bool has_tokens() const override { return true; }
  void encode_tokens(tensor<float>& x, tensor<std::int32_t>& tokens) override {
    detail::shape_images(x, shape_);
    model_.encode_tokens(x, tokens);
  }
  void decode_tokens(const tensor<std::int32_t>& tokens, tensor<float>& out) override {
    model_.decode_tokens(tokens, out);
  }

 private:
  bool tokens_reproduce_reconstructions(const tensor<float>& test, std::int64_t n, std::int64_t batch) {
    tensor<std::int32_t> tokens;
    tensor<float> decoded;
    for (std::int64_t b = 0; b < n; b += batch) {
      detail::slice_rows(test, b, std::min(n, b + batch), x_);
      model_.reconstruct(x_, out_);
      model_.encode_tokens(x_, tokens);
      model_.decode_tokens(tokens, decoded);
      if (decoded.shape() != out_.shape() || !std::equal(out_.begin(), out_.end(), decoded.begin())) return false;
    }
    return true;
  }
  nlohmann::json stats_json(const std::string& prefix) {
    const auto& s = model_.stats();
    return {{prefix + "perplexity", s.perplexity()},
            {prefix + "codebook_usage", s.fraction_used()},
            {prefix + "codes_used", s.codes_used()},
            {prefix + "codebook_size", s.codebook_size()},
            {prefix + "dead_code_restarts", s.restarts()}};
  }
  Model model_;
  parameter_store<float> store_;
  image_shape shape_;
  tensor<float> x_, out_;
};

}  // namespace vae::cli
