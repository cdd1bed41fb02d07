// vae_runner: the CLI runner of the VAE presets (ELBO training, ELBO / IWAE evaluation, samples, interpolations).
#pragma once
#include "cli/runner.hpp"

namespace vae::cli {

// Variational autoencoders: ELBO training, ELBO / IWAE evaluation, samples and interpolations.
template <class Model>
class vae_runner final : public runner_on<typename Model::backend> {
  using B = typename Model::backend;
  using base = runner_on<B>;

 public:
  vae_runner(Model model, bool flat, image_shape s, generator& init) : model_(std::move(model)), flat_(flat), shape_(s) {
    base::store_.attach(model_, init);
  }
  std::string family() const override { return "vae"; }
  void set_training(bool t) override {
    model_.set_training(t);
    this->freeze_for_evaluation(t);
  }
  void set_gradient_sync(dist::gradient_sync<float>* sync) override { detail::set_gradient_sync(model_, sync); }
  double train_step(tensor<float>& x, generator& rng, std::int64_t step) override {
    detail::shape_input(x, flat_, shape_);
    return model_.train_step_loss(detail::to_model(x, xd_), rng, step);
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
      const auto& xm = detail::to_model(x_, xd_);
      per.assign(static_cast<std::size_t>(e - b), 0.0);
      elbo_sum += model_.elbo(xm, rng, std::span<double>(per)) * static_cast<double>(e - b);
      // Reconstruction error of the posterior mean decoded (the picture a user sees).
      decode_mean(xm, out_);
      se += detail::squared_error(out_, x_);
    }
    const double elbo = elbo_sum / static_cast<double>(n);
    nlohmann::json j = {{"test_elbo", elbo}, {"test_loss", -elbo},
                        {"test_mse", se / static_cast<double>(n * shape_.pixels())}, {"n", n}};
    if (req.iwae_k > 0) {
      if constexpr (HostBackend<B>) {
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
      } else {
        vae::detail::throw_error(cat("--iwae-k: the importance-sampled estimate runs on the cpu only for now "
                                     "(evaluate the run without --device ", B::name, ")"));
      }
    }
    return j;
  }
  void reconstruct(tensor<float>& x, tensor<float>& out) override {
    detail::shape_input(x, flat_, shape_);
    decode_mean(detail::to_model(x, xd_), out);
    detail::shape_images(out, shape_);
  }
  void eval_batch(tensor<float>& x, generator& rng) override {
    detail::shape_input(x, flat_, shape_);
    per_.assign(static_cast<std::size_t>(x.dim(0)), 0.0);
    model_.elbo(detail::to_model(x, xd_), rng, std::span<double>(per_));
  }
  bool generative() const override { return true; }
  void sample(std::int64_t n, generator& rng, tensor<float>& out) override {
    if constexpr (HostBackend<B>) {
      model_.sample(n, rng, out);
    } else {
      model_.sample(n, rng, yd_);
      detail::to_host(yd_, out);
    }
    detail::shape_images(out, shape_);
  }
  void interpolate(tensor<float>& x, std::int64_t steps, tensor<float>& out) override {
    detail::shape_input(x, flat_, shape_);
    model_.encode(detail::to_model(x, xd_), mu_, logvar_);
    const tensor<float>* mu = nullptr;
    if constexpr (HostBackend<B>) {
      mu = &mu_;
    } else {
      detail::to_host(mu_, mu_host_);
      mu = &mu_host_;
    }
    const std::int64_t d = mu->dim(1);
    z_.resize({steps, d});
    for (std::int64_t s = 0; s < steps; ++s) {
      const float t = steps > 1 ? static_cast<float>(s) / static_cast<float>(steps - 1) : 0.f;
      for (std::int64_t k = 0; k < d; ++k) z_.data()[s * d + k] = (1 - t) * mu->data()[k] + t * mu->data()[d + k];
    }
    if constexpr (HostBackend<B>) {
      model_.decode(z_, out);
    } else {
      model_.decode(detail::to_model(z_, zd_), yd_);
      detail::to_host(yd_, out);
    }
    detail::shape_images(out, shape_);
  }

 private:
  // The posterior mean of x decoded, in host memory.
  void decode_mean(const tensor<float, B>& x, tensor<float>& out) {
    model_.encode(x, mu_, logvar_);
    if constexpr (HostBackend<B>) {
      model_.decode(mu_, out);
    } else {
      model_.decode(mu_, yd_);
      detail::to_host(yd_, out);
    }
  }
  Model model_;
  bool flat_;
  image_shape shape_;
  tensor<float> x_, out_, z_, mu_host_;
  tensor<float, B> mu_, logvar_;
  tensor<float, B> xd_, yd_, zd_;  // device staging (unused on the host)
  std::vector<double> per_;
};

}  // namespace vae::cli
