// VAE: encoder → (mu, logvar) → z = mu + σ·eps → decoder, composed from prior, divergence, likelihood and weighting policies.
#pragma once
#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "vae/core/concepts.hpp"
#include "vae/core/error.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"
#include "vae/dist/gradient_sync.hpp"
#include "vae/distributions/gaussian.hpp"
#include "vae/divergences/analytic_kl.hpp"
#include "vae/divergences/divergence.hpp"
#include "vae/divergences/monte_carlo_kl.hpp"
#include "vae/likelihoods/bernoulli.hpp"
#include "vae/likelihoods/likelihood.hpp"
#include "vae/objectives/iwae.hpp"
#include "vae/core/memory_space.hpp"
#include "vae/priors/prior.hpp"
#include "vae/priors/standard_normal.hpp"
#include "vae/weighting/weighting.hpp"

namespace vae {

namespace detail {
template <class E>
concept HasInputGradientSwitch = requires(E& e) { e.set_input_gradient(true); };
template <class P, class T>
concept ScalarMatches = !requires { typename P::value_type; } || std::same_as<typename P::value_type, T>;
}  // namespace detail

// The encoder maps x [N, ...] to [N, 2·latent] read as (mu, logvar) = torch.chunk(2, dim=1); the decoder maps
// z [N, latent] to the likelihood's parameters ([N, m·P...], m = output_multiplier()). Per step:
//   loss = mean_i nll_i + Weighting.penalty(step, Divergence(q, prior)).value
// Parameters: encoder "enc.", decoder "dec.", prior "prior.", likelihood "likelihood." (the MLP preset gives
// enc.0.weight … dec.4.bias, as the reference vae_mlp.py).
// Backends: one code path for all. Every tensor stays in B's memory: the policies' element loops are backend ops
// (ops/likelihood_terms.hpp, ops/gaussian_latent.hpp) and eps is drawn from the same Philox stream on every backend.
// The host sees what the Weighting needs, since it runs there: the per-image nll (N doubles, read back) and the
// Divergence's statistics and scales (divergence_stats / divergence_scale, host vectors by the Divergence concept).
// Policies that still index host memory (MixtureOfGaussiansPrior, VampPrior, LearnableGaussianPrior, MonteCarloKL,
// MMD, the learned-σ Gaussians) and the IWAE objective fail to compile on a device backend with "<Policy>: host
// backends only for now".
// VampPrior (an EncoderDependentPrior): each call runs the encoder on the pseudo-inputs first, the main batch
// second, and (train steps) re-runs the pseudo-input forward/backward after the main backward, so cached
// activations never interleave. The encoder must then produce input gradients: the model calls its
// set_input_gradient(true/false) around that pass when it has one.
template <class Encoder, class Decoder, class PriorP = StandardNormalPrior, class DivergenceP = AnalyticGaussianKL,
          class LikelihoodP = BernoulliLikelihood, class WeightingP = ConstantBeta, class T = float, class B = cpu>
class VAE {
  static_assert(Layer<Encoder> && std::same_as<typename Encoder::value_type, T>,
                "VAE: the encoder must be a Layer over tensor<T, B> (same scalar T as the model)");
  static_assert(Layer<Decoder> && std::same_as<typename Decoder::value_type, T>,
                "VAE: the decoder must be a Layer over tensor<T, B> (same scalar T as the model)");
  static_assert(detail::ScalarMatches<PriorP, T> && detail::ScalarMatches<LikelihoodP, T>,
                "VAE: the prior and likelihood must use the model's scalar type T (e.g. LearnableGaussianPrior<double> "
                "in a VAE<..., double>)");
  static_assert(!detail::ScalarMatches<PriorP, T> || Prior<PriorP, T, B>, "VAE: the Prior policy does not model vae::Prior (priors/prior.hpp)");
  static_assert(!detail::ScalarMatches<LikelihoodP, T> || Likelihood<LikelihoodP, T, B>,
                "VAE: the Likelihood policy does not model vae::Likelihood (likelihoods/likelihood.hpp)");
  static_assert(Weighting<WeightingP>, "VAE: the Weighting policy does not model vae::Weighting (weighting/weighting.hpp)");
  static_assert(Divergence<DivergenceP, PriorP, T, B>,
                "VAE: the Divergence policy does not model vae::Divergence (divergences/divergence.hpp)");
  // `|| true`: a refused pair fails inside the divergence with its own message, and only there.
  static_assert(DivergenceP::template accepts<PriorP>() || true);
  static_assert(!WeightingP::needs_per_dimension || DivergenceP::per_dimension,
                "VAE: FreeBits needs a divergence that decomposes per latent dimension (AnalyticGaussianKL); "
                "MonteCarloKL and MMD do not");

 public:
  using value_type = T;
  using backend = B;
  using tensor_type = tensor<T, B>;
  using encoder_type = Encoder;
  using decoder_type = Decoder;
  using prior_type = PriorP;
  using divergence_type = DivergenceP;
  using likelihood_type = LikelihoodP;
  using weighting_type = WeightingP;
  static constexpr bool encoder_dependent_prior = EncoderDependentPrior<PriorP, T, B>;

  VAE(Encoder encoder, Decoder decoder, std::int64_t latent, PriorP prior = PriorP{},
      DivergenceP divergence = DivergenceP{}, LikelihoodP likelihood = LikelihoodP{},
      WeightingP weighting = WeightingP{})
      : enc_(std::move(encoder)),
        dec_(std::move(decoder)),
        prior_(std::move(prior)),
        div_(std::move(divergence)),
        lik_(std::move(likelihood)),
        weight_(std::move(weighting)),
        latent_(latent) {
    check(latent > 0, [&] { return cat("VAE: latent size must be positive, got ", latent); });
  }

  // One training step's forward and backward on x [N, ...]: ADDS the gradient of the returned batch-mean loss
  // into the parameter store (the caller zeroes grads and steps the optimizer). eps comes from rng.
  double train_step_loss(const tensor_type& x, generator& rng, std::int64_t step) {
    const auto n = check_batch("VAE::train_step_loss", x);
    prior_forward();
    posterior(x);
    draw(rng);
    const auto& out = dec_.forward(z_);
    const auto w = likelihood_weights(n);
    // A likelihood with a one-pass nll_and_backward (Bernoulli) computes the output gradient with the nll.
    constexpr bool one_pass = requires(LikelihoodP& l, std::span<const double> rw, std::span<double> s) {
      l.nll_and_backward(out, x, rw, s, dout_);
    };
    if constexpr (one_pass) lik_.nll_and_backward(out, x, w, nll_rows(n), dout_);
    else lik_.nll(out, x, nll_rows(n));
    read_nll(n);
    div_.forward(mu_, logvar_, z_, eps_, prior_, rng, stats_);
    const auto pen = weight_.penalty(step, stats_);
    double rec = 0;
    for (double v : nll_) rec += v;
    last_ = {rec / static_cast<double>(n), stats_.mean(), pen.value};

    if constexpr (!one_pass) lik_.backward(out, x, w, dout_);
    dz_ = dec_.backward(dout_);
    dist::mark_gradients_ready(sync_, lik_);  // their allreduces run beside the encoder's backward
    dist::mark_gradients_ready(sync_, dec_);
    zero_like(dmu_, mu_);
    zero_like(dlogvar_, mu_);
    div_.backward(mu_, logvar_, z_, eps_, prior_, pen.scale, dmu_, dlogvar_, dz_);
    dist::reparameterize_backward(logvar_, eps_, dz_, dmu_, dlogvar_);
    dist::join_posterior(dmu_, dlogvar_, dh_);
    enc_.backward(dh_);
    prior_backward();
    dist::mark_gradients_ready(sync_, enc_);
    dist::mark_gradients_ready(sync_, prior_);
    return last_.reconstruction + last_.penalty;
  }

  // IWAE training step (objectives/iwae.hpp): loss = mean_i −log(1/k Σ_s p(x_i|z_s)p(z_s)/q(z_s|x_i)) with k
  // samples per image decoded as one batch of k·N; gradients (ADDED) weight each sample by its self-normalised
  // importance weight. Ignores the Divergence and Weighting policies. k = 1 equals the ELBO with MonteCarloKL.
  double train_step_iwae(const tensor_type& x, std::int64_t k, generator& rng) {
    static_assert(HostBackend<B>, "IWAE (VAE::train_step_iwae): host backends only for now");
    const auto n = check_batch("VAE::train_step_iwae", x);
    check(k > 0, [&] { return cat("VAE::train_step_iwae: k must be positive, got ", k); });
    prior_forward();
    posterior(x);
    const auto kn = static_cast<std::size_t>(k) * n;
    const std::int64_t d = latent_;
    repeat_rows(mu_, k, mu_k_);
    repeat_rows(logvar_, k, logvar_k_);
    eps_k_.resize(mu_k_.shape());
    rng.fill_normal(eps_k_.data(), eps_k_.numel());
    dist::reparameterize(mu_k_, logvar_k_, eps_k_, z_k_);
    repeat_rows(x, k, x_k_);
    const auto& out = dec_.forward(z_k_);
    nll_.resize(kn);
    logp_.resize(kn);
    logq_.resize(kn);
    lik_.nll(out, x_k_, nll_);
    prior_.log_prob(z_k_, logp_);
    dist::posterior_log_prob(logvar_k_, eps_k_, logq_);
    logw_.resize(kn);
    for (std::size_t r = 0; r < kn; ++r) logw_[r] = -nll_[r] + logp_[r] - logq_[r];
    bound_.resize(n);
    row_w_.resize(kn);
    detail::iwae_weights(logw_, k, static_cast<std::int64_t>(n), bound_, row_w_);
    double loss = 0;
    for (double b : bound_) loss -= b;
    loss /= static_cast<double>(n);

    lik_.backward(out, x_k_, row_w_, dout_);
    dz_ = dec_.backward(dout_);
    neg_w_.resize(kn);
    for (std::size_t r = 0; r < kn; ++r) neg_w_[r] = -row_w_[r];
    prior_.backward(z_k_, neg_w_, dz_);
    zero_like(dmu_k_, mu_k_);
    zero_like(dlogvar_k_, mu_k_);
    for (std::size_t r = 0; r < kn; ++r)
      for (std::int64_t j = 0; j < d; ++j) dlogvar_k_[static_cast<std::int64_t>(r) * d + j] = static_cast<T>(-0.5 * row_w_[r]);
    dist::reparameterize_backward(logvar_k_, eps_k_, dz_, dmu_k_, dlogvar_k_);
    zero_like(dmu_, mu_);
    zero_like(dlogvar_, mu_);
    const std::int64_t per = static_cast<std::int64_t>(n) * d;
    for (std::int64_t s = 0; s < k; ++s)
      for (std::int64_t e = 0; e < per; ++e) {
        dmu_[e] = static_cast<T>(dmu_[e] + dmu_k_[s * per + e]);
        dlogvar_[e] = static_cast<T>(dlogvar_[e] + dlogvar_k_[s * per + e]);
      }
    dist::join_posterior(dmu_, dlogvar_, dh_);
    enc_.backward(dh_);
    prior_backward();
    return loss;
  }

  // Evaluation (no backward): per_image[i] = ELBO_i = −nll_i − KL_i (one z sample; the KL is the Divergence
  // when it is a KL, else MonteCarloKL; β = 1 whatever the Weighting). Returns the batch mean.
  // per_image is host memory on every backend.
  double elbo(const tensor_type& x, generator& rng, std::span<double> per_image) {
    const auto n = check_batch("VAE::elbo", x);
    check(per_image.size() == n, [&] { return cat("VAE::elbo: expected ", n, " per-image slots, got ", per_image.size()); });
    prior_forward();
    posterior(x);
    draw(rng);
    lik_.nll(dec_.forward(z_), x, nll_rows(n));
    read_nll(n);
    if constexpr (DivergenceP::is_kl) {
      div_.forward(mu_, logvar_, z_, eps_, prior_, rng, stats_);
    } else {
      MonteCarloKL mc;
      mc.forward(mu_, logvar_, z_, eps_, prior_, rng, stats_);
    }
    double mean = 0;
    for (std::size_t i = 0; i < n; ++i) {
      per_image[i] = -nll_[i] - stats_.per_row[i];
      mean += per_image[i];
    }
    return mean / static_cast<double>(n);
  }

  // Importance-sampled log-likelihood (IWAE bound with K samples from q(z|x)), streaming over samples with a
  // running log-sum-exp: per_image[i] = log(1/K Σ_k p(x_i|z_k) p(z_k) / q(z_k|x_i)). Returns the batch mean.
  double iwae_log_likelihood(const tensor_type& x, std::int64_t K, generator& rng, std::span<double> per_image) {
    static_assert(HostBackend<B>, "IWAE (VAE::iwae_log_likelihood): host backends only for now");
    const auto n = check_batch("VAE::iwae_log_likelihood", x);
    check(K > 0, [&] { return cat("VAE::iwae_log_likelihood: K must be positive, got ", K); });
    check(per_image.size() == n,
          [&] { return cat("VAE::iwae_log_likelihood: expected ", n, " per-image slots, got ", per_image.size()); });
    prior_forward();
    posterior(x);
    std::vector<dist::running_logsumexp> lse(n);
    nll_.resize(n);
    logp_.resize(n);
    logq_.resize(n);
    for (std::int64_t s = 0; s < K; ++s) {
      draw(rng);
      lik_.nll(dec_.forward(z_), x, nll_);
      prior_.log_prob(z_, logp_);
      dist::posterior_log_prob(logvar_, eps_, logq_);
      for (std::size_t i = 0; i < n; ++i) lse[i].add(-nll_[i] + logp_[i] - logq_[i]);
    }
    double mean = 0;
    for (std::size_t i = 0; i < n; ++i) {
      per_image[i] = lse[i].value() - std::log(static_cast<double>(K));
      mean += per_image[i];
    }
    return mean / static_cast<double>(n);
  }

  // The posterior's parameters for x: mu, logvar [N, latent] (resized).
  void encode(const tensor_type& x, tensor_type& mu, tensor_type& logvar) {
    check_batch("VAE::encode", x);
    posterior(x);
    mu = mu_;
    logvar = logvar_;
  }
  // The likelihood's mean for z [N, latent] (sigmoid of the logits for Bernoulli), shaped like the decoder output
  // (divided by output_multiplier along dim 1).
  void decode(const tensor_type& z, tensor_type& pixels) {
    check(z.rank() == 2 && z.dim(1) == latent_,
          [&] { return cat("VAE::decode: expected z [N, ", latent_, "], got ", z.shape()); });
    lik_.mean(dec_.forward(z), pixels);
  }
  // n draws z ~ p(z), decoded to the likelihood's mean.
  void sample(std::int64_t n, generator& rng, tensor_type& pixels) {
    check(n > 0, [&] { return cat("VAE::sample: n must be positive, got ", n); });
    prior_forward();
    z_.resize({n, latent_});
    prior_.sample(z_, rng);
    lik_.mean(dec_.forward(z_), pixels);
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    enc_.visit_parameters(prefix + "enc.", visit);
    dec_.visit_parameters(prefix + "dec.", visit);
    prior_.visit_parameters(prefix + "prior.", visit);
    lik_.visit_parameters(prefix + "likelihood.", visit);
  }
  void set_training(bool training) {
    vae::set_training(enc_, training);
    vae::set_training(dec_, training);
  }

  // The parts of the last train_step_loss: mean nll, mean divergence, weighted penalty (loss = rec + penalty).
  struct loss_parts {
    double reconstruction = 0, divergence = 0, penalty = 0;
  };
  const loss_parts& last_loss_parts() const { return last_; }
  // Data-parallel training (host train_step_loss): each part's gradients are declared final to `sync` as soon as
  // the backward is done with them (likelihood and decoder, then encoder and prior), so their allreduce overlaps
  // the rest of the backward. Null (the default): one process.
  void set_gradient_sync(dist::gradient_sync<T>* sync) { sync_ = sync; }

  std::int64_t latent() const { return latent_; }
  Encoder& encoder() { return enc_; }
  Decoder& decoder() { return dec_; }
  PriorP& prior() { return prior_; }
  DivergenceP& divergence() { return div_; }
  LikelihoodP& likelihood() { return lik_; }
  WeightingP& weighting() { return weight_; }

 private:
  std::size_t check_batch(const char* who, const tensor_type& x) const {
    check(x.rank() >= 2 && x.dim(0) > 0, [&] { return cat(who, ": expected a batch [N, ...], got ", x.shape()); });
    return static_cast<std::size_t>(x.dim(0));
  }
  void posterior(const tensor_type& x) {
    const auto& h = enc_.forward(x);
    check(h.rank() == 2 && h.dim(0) == x.dim(0) && h.dim(1) == 2 * latent_, [&] {
      return cat("VAE: expected encoder output [", x.dim(0), ", ", 2 * latent_, "] (mu and logvar of latent ", latent_,
                 "), got ", h.shape());
    });
    dist::split_posterior(h, mu_, logvar_);
  }
  void draw(generator& rng) { dist::draw_reparameterized(mu_, logvar_, rng, eps_, z_); }

  // The likelihood's per-image values are written in B's memory (nll_rows) and read back into nll_ (read_nll): one
  // copy of N doubles per call. Its row weights (the ELBO's 1/N) live there too, uploaded when N changes.
  std::span<double> nll_rows(std::size_t n) {
    nll_rows_.resize(shape{static_cast<std::int64_t>(n)});
    return {nll_rows_.data(), n};
  }
  void read_nll(std::size_t n) {
    nll_.resize(n);
    B::copy_to_host(nll_.data(), nll_rows_.data(), n);
  }
  std::span<const double> likelihood_weights(std::size_t n) {
    if (static_cast<std::size_t>(row_weights_.numel()) != n) {
      const std::vector<double> w(n, 1.0 / static_cast<double>(n));
      row_weights_.resize(shape{static_cast<std::int64_t>(n)});
      B::copy_from_host(row_weights_.data(), w.data(), n);
    }
    return {row_weights_.data(), n};
  }
  void prior_forward() {
    if constexpr (encoder_dependent_prior) {
      const auto& h = enc_.forward(prior_.pseudo_input_tensor());
      check(h.rank() == 2 && h.dim(1) == 2 * latent_, [&] {
        return cat("VAE (VampPrior): expected encoder output [K, ", 2 * latent_, "] on the pseudo-inputs, got ", h.shape());
      });
      prior_.set_components(h);
    }
  }
  void prior_backward() {
    if constexpr (encoder_dependent_prior) {
      enc_.forward(prior_.pseudo_input_tensor());
      if constexpr (detail::HasInputGradientSwitch<Encoder>) enc_.set_input_gradient(true);
      const auto& dx = enc_.backward(prior_.component_grad());
      if constexpr (detail::HasInputGradientSwitch<Encoder>) enc_.set_input_gradient(false);
      prior_.add_pseudo_input_grad(dx);
    }
  }
  static void zero_like(tensor_type& t, const tensor_type& like) {
    t.resize(like.shape());
    t.zero();
  }
  // out = k copies of a's rows stacked (row s·N + i = a row i).
  static void repeat_rows(const tensor_type& a, std::int64_t k, tensor_type& out) {
    shape s = a.shape();
    s[0] *= k;
    out.resize(s);
    const auto m = a.numel();
    for (std::int64_t r = 0; r < k; ++r) std::copy(a.data(), a.data() + m, out.data() + r * m);
  }

  dist::gradient_sync<T>* sync_ = nullptr;
  Encoder enc_;
  Decoder dec_;
  PriorP prior_;
  DivergenceP div_;
  LikelihoodP lik_;
  WeightingP weight_;
  std::int64_t latent_;
  tensor_type mu_, logvar_, eps_, z_, dz_, dmu_, dlogvar_, dh_, dout_;
  tensor_type mu_k_, logvar_k_, eps_k_, z_k_, x_k_, dmu_k_, dlogvar_k_;
  std::vector<double> nll_, logp_, logq_, logw_, bound_, row_w_, neg_w_;
  tensor<double, B> nll_rows_, row_weights_;  // the likelihood's per-image values and row weights, in B's memory
  divergence_stats stats_;
  loss_parts last_;
};

}  // namespace vae
