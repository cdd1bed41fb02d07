// MMD (InfoVAE / WAE): unbiased MMD² between the batch's z and as many prior samples, with a kernel policy.
#pragma once
#include <cmath>
#include <cstdint>
#include <tuple>
#include <vector>

#include "vae/divergences/divergence.hpp"
#include "vae/core/memory_space.hpp"
#include "vae/priors/prior.hpp"

namespace vae {

namespace kernels {
// k(x, y) = exp(−‖x − y‖² / s), s = scale or, when scale ≤ 0, the latent size D (InfoVAE's choice).
struct RBF {
  double scale = 0.0;
  double width(std::int64_t d) const { return scale > 0 ? scale : static_cast<double>(d); }
  double value(double r2, std::int64_t d) const { return std::exp(-r2 / width(d)); }
  double derivative(double r2, std::int64_t d) const { return -std::exp(-r2 / width(d)) / width(d); }  // dk/dr²
};
// k(x, y) = C / (C + ‖x − y‖²), C = c or, when c ≤ 0, 2·D (WAE's choice for a N(0, I) prior).
struct InverseMultiquadric {
  double c = 0.0;
  double width(std::int64_t d) const { return c > 0 ? c : 2.0 * static_cast<double>(d); }
  double value(double r2, std::int64_t d) const { return width(d) / (width(d) + r2); }
  double derivative(double r2, std::int64_t d) const {
    const double w = width(d);
    return -w / ((w + r2) * (w + r2));
  }
};
}  // namespace kernels

template <class K>
concept MMDKernel = requires(const K& k, double r2, std::int64_t d) {
  { k.value(r2, d) } -> std::convertible_to<double>;
  { k.derivative(r2, d) } -> std::convertible_to<double>;
};

// MMD²_u = 1/(n(n−1)) Σ_{i≠j} [k(z_i, z_j) + k(y_i, y_j)] − 2/n² Σ_{i,j} k(z_i, y_j), y_j ~ p(z) drawn in forward
// (for a GaussianPrior, y = m + exp(lv/2)·e and the gradient reaches the prior's mean and log-variance
// pathwise; samples of other priors are constants). A batch statistic: every per_row entry
// holds the same value, so the gradient of Σ_i s_i·per_row_i is (Σ_i s_i)·∇MMD². Needs N ≥ 2.
template <MMDKernel Kernel = kernels::InverseMultiquadric>
struct MMD {
  static constexpr bool per_dimension = false;
  static constexpr bool is_kl = false;
  template <class Prior>
  static constexpr bool accepts() { return true; }  // any prior it can sample
  Kernel kernel{};

  MMD() = default;
  explicit MMD(Kernel k) : kernel(k) {}

  template <class T, class B, class Prior>
  void forward(const tensor<T, B>& mu, const tensor<T, B>& logvar, const tensor<T, B>& z, const tensor<T, B>& eps,
               Prior& prior, generator& rng, divergence_stats& stats) {
    static_assert(HostBackend<B>, "MMD: host backends only for now");
    detail::check_posterior("MMD::forward", mu, logvar, z, eps);
    check(z.dim(0) >= 2, [&] { return cat("MMD: needs at least 2 latents per batch, got ", z.shape()); });
    auto& y = std::get<tensor<T, B>>(samples_);
    y.resize(z.shape());
    if constexpr (GaussianPrior<Prior>) {
      auto& e = std::get<tensor<T, B>>(noise_);
      e.resize(z.shape());
      rng.fill_normal(e.data(), e.numel());
      for (std::int64_t i = 0; i < e.numel(); ++i) {
        const auto j = i % z.dim(1);
        y[i] = static_cast<T>(prior.gaussian_mean(j) + std::exp(0.5 * prior.gaussian_log_var(j)) * e[i]);
      }
    } else {
      prior.sample(y, rng);
    }
    const std::int64_t n = z.dim(0), d = z.dim(1);
    double zz = 0, yy = 0, zy = 0;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        if (i != j) {
          zz += kernel.value(dist2(z, i, z, j, d), d);
          yy += kernel.value(dist2(y, i, y, j, d), d);
        }
        zy += kernel.value(dist2(z, i, y, j, d), d);
      }
    const double nn = static_cast<double>(n);
    const double v = (zz + yy) / (nn * (nn - 1)) - 2.0 * zy / (nn * nn);
    stats.per_row.assign(static_cast<std::size_t>(n), v);
    stats.per_dim.clear();
  }

  template <class T, class B, class Prior>
  void backward(const tensor<T, B>& mu, const tensor<T, B>& logvar, const tensor<T, B>& z, const tensor<T, B>& eps,
                Prior& prior, const divergence_scale& scale, tensor<T, B>& dmu, tensor<T, B>& dlogvar, tensor<T, B>& dz) {
    static_assert(HostBackend<B>, "MMD: host backends only for now");
    detail::check_posterior("MMD::backward", mu, logvar, z, eps);
    detail::check_grads("MMD::backward", mu, dmu, dlogvar, dz, scale);
    check(scale.dim.empty(), "MMD::backward: does not decompose per dimension (no dimension scales)");
    const auto& y = std::get<tensor<T, B>>(samples_);
    check_shape(y.shape(), z.shape(), "MMD::backward (call forward on the same batch first): prior samples");
    double s = 0;
    for (double v : scale.row) s += v;
    const std::int64_t n = z.dim(0), d = z.dim(1);
    const double nn = static_cast<double>(n), a = s * 2.0 / (nn * (nn - 1)), b = s * 2.0 / (nn * nn);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        // d k(z_i, z_j)/d z_i = k'(r²)·2(z_i − z_j); the i≠j sum counts each pair twice (the factor 2 in a).
        const double kzz = i != j ? a * kernel.derivative(dist2(z, i, z, j, d), d) : 0.0;
        const double kzy = b * kernel.derivative(dist2(z, i, y, j, d), d);
        for (std::int64_t c = 0; c < d; ++c) {
          const double g = kzz * 2.0 * (static_cast<double>(z[i * d + c]) - z[j * d + c]) -
                           kzy * 2.0 * (static_cast<double>(z[i * d + c]) - y[j * d + c]);
          dz[i * d + c] = static_cast<T>(dz[i * d + c] + g);
        }
      }
    if constexpr (GaussianPrior<Prior>) {
      // d/dy_i: the y–y pairs and the cross term (y_i as the second argument), then y = m + exp(lv/2)·e.
      const auto& e = std::get<tensor<T, B>>(noise_);
      std::vector<double> gm(static_cast<std::size_t>(d), 0.0), glv(static_cast<std::size_t>(d), 0.0);
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < n; ++j) {
          const double kyy = i != j ? a * kernel.derivative(dist2(y, i, y, j, d), d) : 0.0;
          const double kzy = b * kernel.derivative(dist2(z, j, y, i, d), d);
          for (std::int64_t c = 0; c < d; ++c) {
            const double g = kyy * 2.0 * (static_cast<double>(y[i * d + c]) - y[j * d + c]) -
                             kzy * 2.0 * (static_cast<double>(y[i * d + c]) - z[j * d + c]);
            gm[static_cast<std::size_t>(c)] += g;
            glv[static_cast<std::size_t>(c)] += g * e[i * d + c] * 0.5 * std::exp(0.5 * prior.gaussian_log_var(c));
          }
        }
      for (std::int64_t c = 0; c < d; ++c) prior.add_gaussian_grad(c, gm[static_cast<std::size_t>(c)], glv[static_cast<std::size_t>(c)]);
    }
  }

 private:
  template <class T, class B, class U>
  static double dist2(const tensor<T, B>& a, std::int64_t i, const tensor<U, B>& b, std::int64_t j, std::int64_t d) {
    double r = 0;
    for (std::int64_t c = 0; c < d; ++c) {
      const double v = static_cast<double>(a[i * d + c]) - static_cast<double>(b[j * d + c]);
      r += v * v;
    }
    return r;
  }
  std::tuple<tensor<float>, tensor<double>> samples_, noise_;  // y and (Gaussian priors) e, per scalar type
};

}  // namespace vae
