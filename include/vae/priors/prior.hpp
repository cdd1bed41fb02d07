// Prior concepts: log p(z) per row with its gradient, sampling; GaussianPrior for diagonal Gaussians (closed-form KL).
#pragma once
#include <cstdint>
#include <span>
#include <string>

#include "vae/core/error.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"

namespace vae {

// Prior<P, T, B> over latents z [N, D]:
//   log_prob(z, per_row)          per_row[i] = log p(z_i) (nats);
//   backward(z, row_weight, dz)   ADDS d(Σ_i w_i log p(z_i))/dz into dz and into the prior's own parameter grads;
//   sample(z, rng)                fills z (its shape says N and D) with draws from p;
//   visit_parameters(prefix, v)   learned parameters (none for StandardNormalPrior).
template <class P, class T, class B>
concept Prior = requires(P& p, const tensor<T, B>& z, tensor<T, B>& dz, std::span<double> s,
                         std::span<const double> w, generator& rng, const std::string& prefix) {
  p.log_prob(z, s);
  p.backward(z, w, dz);
  p.sample(dz, rng);
  p.visit_parameters(prefix, detail::parameter_visitor_archetype<T>{});  // not a lambda: nvcc rejects those here
};

// A prior that is one diagonal Gaussian N(m, diag(exp(lv))): exposes m_j, lv_j per latent dimension and takes
// gradients in them, so a divergence can use the closed form. StandardNormalPrior and LearnableGaussianPrior.
template <class P>
concept GaussianPrior = requires(P& p, std::int64_t j, double g) {
  { p.gaussian_mean(j) } -> std::convertible_to<double>;
  { p.gaussian_log_var(j) } -> std::convertible_to<double>;
  p.add_gaussian_grad(j, g, g);
  p.check_latent_dim(j);
};

// A prior built from the encoder (VampPrior): the model runs the encoder on pseudo_input_tensor() and hands the
// output to set_components before the main pass, then backpropagates component_grad() through a second encoder
// pass and returns the input gradient with add_pseudo_input_grad.
template <class P, class T, class B>
concept EncoderDependentPrior = requires(P& p, const tensor<T, B>& t) {
  { p.pseudo_input_tensor() } -> std::convertible_to<const tensor<T, B>&>;
  p.set_components(t);
  { p.component_grad() } -> std::convertible_to<const tensor<T, B>&>;
  p.add_pseudo_input_grad(t);
};

namespace detail {
template <class T, class B>
void check_latents(const char* who, const tensor<T, B>& z, std::size_t rows) {
  check(z.rank() == 2 && z.dim(0) > 0 && z.dim(1) > 0,
        [&] { return cat(who, ": expected latents [N, D], got ", z.shape()); });
  check(rows == static_cast<std::size_t>(z.dim(0)),
        [&] { return cat(who, ": expected ", z.dim(0), " per-row slots, got ", rows); });
}
}  // namespace detail

}  // namespace vae
