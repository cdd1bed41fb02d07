// VampPrior (Tomczak & Welling 2018): p(z) = 1/K Σ_k q(z | u_k), the encoder's posteriors at K learned pseudo-inputs.
#pragma once
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "vae/distributions/gaussian.hpp"
#include "vae/core/memory_space.hpp"
#include "vae/priors/mixture_of_gaussians.hpp"
#include "vae/priors/prior.hpp"

namespace vae {

// Parameter "pseudo_inputs" [K, input_dim], initialised U(0, 1) (data scale). The components come from the
// encoder, so the prior does not evaluate on its own: the model (models/vae.hpp) per step
//   1. runs the encoder on pseudo_input_tensor() and passes the output [K, 2D] to set_components (this zeroes
//      component_grad()),
//   2. runs the main pass; log_prob/backward use the components, backward accumulates d(mu_k, logvar_k) into
//      component_grad() [K, 2D] (laid out like the encoder output),
//   3. after the main backward, re-runs the encoder forward on the pseudo-inputs, backward with component_grad(),
//      and hands the input gradient to add_pseudo_input_grad.
// The encoder must produce input gradients (its first layer's set_input_gradient(true)).
template <class T = float, class B = cpu>
class VampPrior {
  static_assert(HostBackend<B>, "VampPrior: host backends only for now");

 public:
  using value_type = T;
  VampPrior(std::int64_t components, std::int64_t input_dim) : k_(components), in_(input_dim) {
    check(components > 0 && input_dim > 0,
          [&] { return cat("VampPrior: sizes must be positive, got K=", components, " input_dim=", input_dim); });
    pseudo_.shape = {k_, in_};
    pseudo_.init = parameter_init::uniform(0.0, 1.0);
  }

  const tensor<T, B>& pseudo_input_tensor() {
    check(pseudo_.bound(), "VampPrior: parameters are not attached to a parameter_store");
    u_.resize({k_, in_});
    std::copy(pseudo_.value, pseudo_.value + u_.numel(), u_.data());
    return u_;
  }
  void set_components(const tensor<T, B>& h) {
    check(h.rank() == 2 && h.dim(0) == k_ && h.dim(1) % 2 == 0,
          [&] { return cat("VampPrior::set_components: expected encoder output [", k_, ", 2D], got ", h.shape()); });
    d_ = h.dim(1) / 2;
    dist::split_posterior(h, mu_, logvar_);
    dmu_.resize(mu_.shape());
    dmu_.zero();
    dlogvar_.resize(mu_.shape());
    dlogvar_.zero();
    ready_ = true;
  }
  const tensor<T, B>& component_grad() {
    dist::join_posterior(dmu_, dlogvar_, dh_);
    return dh_;
  }
  void add_pseudo_input_grad(const tensor<T, B>& dx) {
    check_shape(dx.shape(), shape{k_, in_},
                "VampPrior::add_pseudo_input_grad (does the encoder compute input gradients?) dx");
    if (T* g = pseudo_.grad_to_add())
      for (std::int64_t i = 0; i < dx.numel(); ++i) g[i] = static_cast<T>(g[i] + dx[i]);
  }

  void log_prob(const tensor<T, B>& z, std::span<double> per_row) const {
    check_z("VampPrior::log_prob", z, per_row.size());
    const std::vector<double> lw(static_cast<std::size_t>(k_), -std::log(static_cast<double>(k_)));
    detail::diag_mixture::log_prob(k_, d_, mu_.data(), logvar_.data(), lw.data(), z, per_row, nullptr);
  }
  void backward(const tensor<T, B>& z, std::span<const double> row_weight, tensor<T, B>& dz) {
    check_z("VampPrior::backward", z, row_weight.size());
    check_shape(dz.shape(), z.shape(), "VampPrior::backward: dz");
    const std::vector<double> lw(static_cast<std::size_t>(k_), -std::log(static_cast<double>(k_)));
    std::vector<double> per_row(static_cast<std::size_t>(z.dim(0))), resp;
    detail::diag_mixture::log_prob(k_, d_, mu_.data(), logvar_.data(), lw.data(), z, per_row, &resp);
    detail::diag_mixture::backward(k_, d_, mu_.data(), logvar_.data(), z, row_weight, resp, dz, dmu_.data(),
                                   dlogvar_.data(), static_cast<double*>(nullptr));
  }
  void sample(tensor<T, B>& z, generator& rng) const {
    check(ready_, "VampPrior::sample: components are not set (the model sets them from the encoder)");
    check(z.rank() == 2 && z.dim(1) == d_, [&] { return cat("VampPrior::sample: expected [N, ", d_, "], got ", z.shape()); });
    for (std::int64_t i = 0; i < z.dim(0); ++i) {
      const auto c = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(k_)));
      for (std::int64_t j = 0; j < d_; ++j)
        z[i * d_ + j] = static_cast<T>(mu_[c * d_ + j] + std::exp(0.5 * logvar_[c * d_ + j]) * rng.normal());
    }
  }
  template <class V>
  void visit_parameters(const std::string& prefix, V&& visit) {
    visit(prefix + "pseudo_inputs", pseudo_);
  }
  parameter<T>& pseudo_inputs() { return pseudo_; }
  std::int64_t components() const { return k_; }

 private:
  void check_z(const char* who, const tensor<T, B>& z, std::size_t rows) const {
    check(ready_, [&] { return cat(who, ": components are not set (run the encoder on the pseudo-inputs first)"); });
    detail::check_latents(who, z, rows);
    check(z.dim(1) == d_, [&] { return cat(who, ": components have latent size ", d_, ", got latents ", z.shape()); });
  }
  std::int64_t k_, in_, d_ = 0;
  bool ready_ = false;
  parameter<T> pseudo_;
  tensor<T, B> u_, mu_, logvar_, dmu_, dlogvar_, dh_;
};

}  // namespace vae
