// Cases of ops/gaussian_latent.hpp: the posterior split/join, the reparameterisation (same draws on every
// backend) and its backward, the standard normal draws, and the analytic KL with its gradient (prior N(0, I) or a
// diagonal Gaussian with its own gradient).
#pragma once
#include <cmath>

#include "../case_support.hpp"
#include "vae/core/rng.hpp"
#include "vae/ops/gaussian_latent.hpp"

namespace vae::op_cases {

struct latent_config {
  std::int64_t n, d;
};
inline std::vector<latent_config> latent_configs() { return {{3, 5}, {1, 1}}; }
inline std::string describe_latent(const latent_config& c) { return cat(c.n, " rows of ", c.d); }

struct posterior_split_case {
  static constexpr const char* op = "posterior_split_op";
  static constexpr const char* name = "posterior_split";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks{.exact = true};
  using config = latent_config;
  static std::vector<config> configs() { return latent_configs(); }
  static std::string describe(const config& c) { return describe_latent(c); }
  static op_signature signature(const config& c) {
    return {{{.name = "h", .numel = 2 * c.n * c.d}},
            {{.name = "mu", .numel = c.n * c.d}, {.name = "logvar", .numel = c.n * c.d}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    ops::split_posterior<B>(c.n, c.d, io.in(0), io.out(0), io.out(1));
  }
  template <class B, class T>
  static void backward(const config& c, op_buffers<T, B>& io) {
    ops::join_posterior<B>(c.n, c.d, io.seed(0), io.seed(1), io.grad(0));
  }
};

inline constexpr std::uint64_t latent_draw_seed = 4242;

struct reparameterize_case {
  static constexpr const char* op = "reparameterize_op";
  static constexpr const char* name = "reparameterize";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks{.parity_float = {1e-6, 1e-5}, .parity_double = {1e-14, 1e-13}};
  using config = latent_config;
  static std::vector<config> configs() { return latent_configs(); }
  static std::string describe(const config& c) { return describe_latent(c); }
  static op_signature signature(const config& c) {
    const auto n = c.n * c.d;
    return {{{.name = "mu", .numel = n, .grad_accumulates = true},
             {.name = "logvar", .numel = n, .scale = 0.5, .grad_accumulates = true}},
            {{.name = "eps", .numel = n, .differentiable = false}, {.name = "z", .numel = n}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    generator rng(latent_draw_seed);
    ops::reparameterize<B>(rng, c.n * c.d, io.in(0), io.in(1), io.out(0), io.out(1));
  }
  template <class B, class T>
  static void backward(const config& c, op_buffers<T, B>& io) {
    ops::reparameterize_backward<B>(c.n * c.d, io.in(1), io.out(0), io.seed(1), io.grad(0), io.grad(1));
  }
};

struct normal_fill_case {
  static constexpr const char* op = "normal_fill_op";
  static constexpr const char* name = "normal_fill";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks{
      .reference = {0, 0}, .parity_float = {1e-6, 1e-6}, .parity_double = {1e-14, 1e-14}};
  using config = latent_config;
  static std::vector<config> configs() { return {{1, 33}, {1, 1}}; }
  static std::string describe(const config& c) { return cat(c.d, " draws"); }
  static op_signature signature(const config& c) { return {{}, {{.name = "out", .numel = c.d}}}; }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    generator rng(latent_draw_seed);
    ops::fill_normal<B>(rng, io.out(0), c.d);
  }
  // The host generator's draws.
  static std::vector<std::vector<double>> reference(const config& c, const std::vector<std::vector<double>>&) {
    std::vector<double> out(static_cast<std::size_t>(c.d));
    generator rng(latent_draw_seed);
    rng.fill_normal(out.data(), c.d);
    return {out};
  }
};

// Prior: N(0, I) (null prior pointers) or a diagonal Gaussian whose mean and log-variance get gradients.
template <bool Prior>
struct gaussian_kl_case {
  static constexpr const char* op = "gaussian_kl_op";
  static constexpr const char* name = Prior ? "gaussian_kl_prior" : "gaussian_kl";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks{.parity_float = {1e-5, 1e-5}, .parity_double = {1e-12, 1e-12}};
  using config = latent_config;
  static std::vector<config> configs() { return latent_configs(); }
  static std::string describe(const config& c) { return describe_latent(c); }
  // per_dim (the mean over rows) is compared across backends; the gradient is that of Σ seed_i · per_row_i.
  static op_signature signature(const config& c) {
    const auto n = c.n * c.d, p = Prior ? c.d : 0;
    return {{{.name = "mu", .numel = n, .grad_accumulates = true},
             {.name = "logvar", .numel = n, .scale = 0.5, .grad_accumulates = true},
             {.name = "prior_mean", .numel = p, .type = element::wide},
             {.name = "prior_logvar", .numel = p, .type = element::wide, .scale = 0.5}},
            {{.name = "per_row", .numel = c.n, .type = element::wide},
             {.name = "per_dim", .numel = c.d, .type = element::wide, .differentiable = false}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    ops::gaussian_kl<B>(c.n, c.d, io.in(0), io.in(1), Prior ? io.in_wide(2) : nullptr, Prior ? io.in_wide(3) : nullptr,
                        io.out_wide(0), io.out_wide(1));
  }
  template <class B, class T>
  static void backward(const config& c, op_buffers<T, B>& io) {
    ops::gaussian_kl_backward<B>(c.n, c.d, io.in(0), io.in(1), Prior ? io.in_wide(2) : nullptr,
                                 Prior ? io.in_wide(3) : nullptr, io.seed_wide(0), nullptr, io.grad(0), io.grad(1),
                                 Prior ? io.grad_wide(2) : nullptr, Prior ? io.grad_wide(3) : nullptr);
  }
};

}  // namespace vae::op_cases
