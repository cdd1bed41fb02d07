// Divergence concept: a per-row penalty between the posterior q(z|x) and the prior, with pathwise gradients.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "vae/core/error.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"

namespace vae {

// What a divergence reports for one batch: per_row[i] (nats) and, for divergences that decompose over latent
// dimensions (per_dimension == true), per_dim[j] = (1/N) Σ_i value_ij (the batch means free bits act on).
struct divergence_stats {
  std::vector<double> per_row;
  std::vector<double> per_dim;
  double mean() const {
    double s = 0;
    for (double v : per_row) s += v;
    return per_row.empty() ? 0.0 : s / static_cast<double>(per_row.size());
  }
};

// The derivative of the weighted penalty in the divergence's values: d penalty / d value_ij = row[i]·dim[j]
// (dim empty = 1 for every j; only per-dimension divergences accept a non-empty dim).
struct divergence_scale {
  std::vector<double> row;
  std::vector<double> dim;
};

// Divergence<Dv, Prior, T, B>: given the posterior (mu, logvar [N, D]), the sample z = mu + exp(logvar/2)·eps,
// eps and the prior:
//   forward(mu, logvar, z, eps, prior, rng, stats)               fills stats (rng: divergences that sample);
//   backward(mu, logvar, z, eps, prior, scale, dmu, dlogvar, dz) ADDS the gradient of Σ scale·value into
//                                                                dmu, dlogvar, dz and the prior's parameters;
//   static constexpr bool per_dimension, is_kl                   (is_kl: the value is a KL(q‖p) estimate);
//   static constexpr bool accepts<Prior>()                       whether the pair has this divergence; a refused
//                                                                pair fails there with a message naming it.
// These are all the members a model calls, on every backend: stats and scales are host vectors, the tensors are in
// B's memory (a divergence stages what it needs between the two).
template <class Dv, class Prior, class T, class B>
concept Divergence = requires(Dv& d, Prior& p, const tensor<T, B>& t, tensor<T, B>& g, generator& rng,
                              divergence_stats& s, const divergence_scale& sc) {
  d.forward(t, t, t, t, p, rng, s);
  d.backward(t, t, t, t, p, sc, g, g, g);
  { Dv::per_dimension } -> std::convertible_to<bool>;
  { Dv::is_kl } -> std::convertible_to<bool>;
  { Dv::template accepts<Prior>() } -> std::convertible_to<bool>;
};

namespace detail {
template <class T, class B>
void check_posterior(const char* who, const tensor<T, B>& mu, const tensor<T, B>& logvar, const tensor<T, B>& z,
                     const tensor<T, B>& eps) {
  check(mu.rank() == 2 && mu.dim(0) > 0 && mu.dim(1) > 0,
        [&] { return cat(who, ": expected mu [N, D], got ", mu.shape()); });
  check_shape(logvar.shape(), mu.shape(), who);
  check_shape(z.shape(), mu.shape(), who);
  check_shape(eps.shape(), mu.shape(), who);
}
template <class T, class B>
void check_grads(const char* who, const tensor<T, B>& mu, const tensor<T, B>& dmu, const tensor<T, B>& dlogvar,
                 const tensor<T, B>& dz, const divergence_scale& sc) {
  check_shape(dmu.shape(), mu.shape(), who);
  check_shape(dlogvar.shape(), mu.shape(), who);
  check_shape(dz.shape(), mu.shape(), who);
  check(sc.row.size() == static_cast<std::size_t>(mu.dim(0)),
        [&] { return cat(who, ": expected ", mu.dim(0), " row scales, got ", sc.row.size()); });
}
}  // namespace detail

}  // namespace vae
