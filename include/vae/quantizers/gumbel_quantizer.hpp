// GumbelQuantizer (DALL-E's dVAE): Gumbel-softmax relaxation over K codes in training, hard argmax at evaluation.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/gemm.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"
#include "vae/layers/linear.hpp"
#include "vae/quantizers/quantizer.hpp"

namespace vae {

struct gumbel_options {
  bool projection = true;            // logits = 1x1 projection (Linear D→K per position, "proj.") of z_e;
                                     //   false: z_e itself holds the K logits (D must equal K)
  double tau_start = 1.0;            // temperature schedule: τ(step) = start·(end/start)^min(1, step/anneal_steps)
  double tau_end = 1.0 / 16;         //   (exponential decay, as DALL-E's anneal)
  std::int64_t anneal_steps = 10000;
  double kl_weight = 5e-4;           // weight of KL(softmax(logits) ‖ uniform), mean over positions
  std::uint64_t seed = 0;            // Gumbel noise generator (not checkpointed)
};

// z_e [N, D, h, w] → logits [M, K] (M = N·h·w positions) → training: y = softmax((logits + g)/τ) with Gumbel
// noise g, z_q = y · E; evaluation: z_q = E[argmax logits]. Output [N, code_dim, h, w]; the codebook "weight"
// [K, code_dim] (N(0, 1) init, as nn.Embedding). loss() = kl_weight · mean_positions Σ_k q_k log(q_k K),
// q = softmax(logits). Tokens: argmax of y in training, of the logits at evaluation.
template <class T = float, class B = cpu>
class GumbelQuantizer {
 public:
  using value_type = T;
  using backend = B;
  static_assert(HostBackend<B>, "GumbelQuantizer: host backends only for now");

  GumbelQuantizer(std::int64_t in_channels, std::int64_t num_codes, std::int64_t code_dim, gumbel_options opt = {})
      : D_(in_channels), K_(num_codes), C_(code_dim), opt_(opt), rng_(opt.seed), stats_(num_codes) {
    check(in_channels > 0 && num_codes > 0 && code_dim > 0, [&] {
      return cat("GumbelQuantizer: sizes must be positive, got D=", in_channels, " K=", num_codes, " code_dim=",
                 code_dim);
    });
    check(opt.projection || in_channels == num_codes, [&] {
      return cat("GumbelQuantizer: without projection z_e holds the logits, so D must equal K; got D=", in_channels,
                 " K=", num_codes);
    });
    check(opt.tau_start > 0 && opt.tau_end > 0, "GumbelQuantizer: temperatures must be positive");
    codebook_.shape = {K_, C_};
    codebook_.init = parameter_init::normal(0.0, 1.0);
    if (opt.projection) proj_.emplace(D_, K_);
    tau_ = opt.tau_start;
  }

  // "weight" [K, code_dim]; with projection "proj.weight" [K, D], "proj.bias" [K].
  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    visit(prefix + "weight", codebook_);
    if (proj_) proj_->visit_parameters(prefix + "proj.", visit);
  }

  // Data-parallel training: this process holds share `rank` of `ranks` equal, rank-ordered shares of each global
  // batch; its Gumbel noise is then that share's part of the noise of the global batch (see forward).
  void set_share(std::int64_t rank, std::int64_t ranks) {
    check(ranks >= 1 && rank >= 0 && rank < ranks, [&] { return cat("GumbelQuantizer::set_share: rank ", rank, " of ", ranks); });
    rank_ = rank;
    ranks_ = ranks;
  }
  void set_training(bool training) { training_ = training; }
  void set_step(std::int64_t step) {
    const double f = opt_.anneal_steps > 0 ? std::min(1.0, static_cast<double>(step) / opt_.anneal_steps) : 1.0;
    tau_ = opt_.tau_start * std::pow(opt_.tau_end / opt_.tau_start, f);
  }
  double temperature() const { return tau_; }
  // For finite-difference tests: reuse the Gumbel noise of the last training forward.
  void set_fixed_noise(bool fixed) { fixed_noise_ = fixed; }

  const tensor<T, B>& forward(const tensor<T, B>& z) {
    check(codebook_.bound(), "GumbelQuantizer::forward: parameters are not attached to a parameter_store");
    check(z.rank() == 4 && z.dim(1) == D_,
          [&] { return cat("GumbelQuantizer::forward: expected z_e [N, ", D_, ", h, w], got ", z.shape()); });
    const std::int64_t N = z.dim(0), hw = z.dim(2) * z.dim(3), M = N * hw, K = K_;
    nhw_ = shape{N, z.dim(2), z.dim(3)};
    zf_.resize({M, D_});
    detail::nchw_to_rows(z.data(), zf_.data(), N, D_, hw);
    logits_ = proj_ ? &proj_->forward(zf_) : &zf_;
    const T* lg = logits_->data();
    // q = softmax(logits) and the KL to uniform per position.
    q_.resize({M, K});
    double kl = 0;
    for (std::int64_t r = 0; r < M; ++r) kl += softmax_row(lg + r * K, 1.0, nullptr, q_.data() + r * K, true);
    kl_ = M > 0 ? kl / M : 0.0;
    idx_.resize(nhw_);
    y_.resize({M, K});
    if (training_) {
      if (!fixed_noise_ || noise_.numel() != M * K) {
        noise_.resize({M, K});
        // Data-parallel: rank r's rows are rows [r·M, (r+1)·M) of the global batch, so it takes that range of the
        // draws one process would make for the global batch, and every rank's generator ends where that one's would.
        rng_.set_offset(rng_.offset() + static_cast<std::uint64_t>(rank_ * M * K));
        for (std::int64_t i = 0; i < M * K; ++i) noise_[i] = static_cast<T>(-std::log(-std::log(rng_.uniform())));
        rng_.set_offset(rng_.offset() + static_cast<std::uint64_t>((ranks_ - 1 - rank_) * M * K));
      }
      for (std::int64_t r = 0; r < M; ++r) softmax_row(lg + r * K, 1.0 / tau_, noise_.data() + r * K, y_.data() + r * K);
    } else {
      y_.zero();
    }
    for (std::int64_t r = 0; r < M; ++r) {
      const T* row = training_ ? y_.data() + r * K : lg + r * K;
      idx_[r] = static_cast<std::int32_t>(std::max_element(row, row + K) - row);
      if (!training_) y_[r * K + idx_[r]] = T(1);
    }
    zr_.resize({M, C_});
    if (training_) {
      cpu_detail::gemm<T>(false, false, M, C_, K, T(1), y_.data(), K, codebook_.value, C_, T(0), zr_.data(), C_);
    } else {
      for (std::int64_t r = 0; r < M; ++r)
        std::copy(codebook_.value + idx_[r] * C_, codebook_.value + (idx_[r] + 1) * C_, zr_.data() + r * C_);
    }
    zq_.resize({N, C_, z.dim(2), z.dim(3)});
    detail::rows_to_nchw(zr_.data(), zq_.data(), N, C_, hw);
    if (!fixed_noise_) stats_.add(idx_.data(), M);
    forwarded_ = true;
    return zq_;
  }

  // dz_q [N, code_dim, h, w]: dE += yᵀ·dz_q; d logits = (y ⊙ (dy − Σ y·dy))/τ + the KL term's gradient
  // (at evaluation y is the one-hot argmax: only the KL term reaches the logits); through proj → dz_e.
  const tensor<T, B>& backward(const tensor<T, B>& dzq) {
    check(forwarded_, "GumbelQuantizer::backward called before forward");
    check_shape(dzq.shape(), zq_.shape(), "GumbelQuantizer::backward: dz_q");
    const std::int64_t N = nhw_[0], hw = nhw_[1] * nhw_[2], M = N * hw, K = K_;
    g_.resize({M, C_});
    detail::nchw_to_rows(dzq.data(), g_.data(), N, C_, hw);
    if (T* dcodebook = codebook_.grad_to_add())
      cpu_detail::gemm<T>(true, false, K, C_, M, T(1), y_.data(), K, g_.data(), C_, T(1), dcodebook, C_);
    dy_.resize({M, K});
    cpu_detail::gemm<T>(false, true, M, K, C_, T(1), g_.data(), C_, codebook_.value, C_, T(0), dy_.data(), K);
    dl_.resize({M, K});
    const double w = M > 0 ? opt_.kl_weight / M : 0.0;
    for (std::int64_t r = 0; r < M; ++r) {
      const T* y = y_.data() + r * K;
      const T* dy = dy_.data() + r * K;
      const T* q = q_.data() + r * K;
      double sy = 0, klr = 0;
      for (std::int64_t k = 0; k < K; ++k) {
        sy += static_cast<double>(y[k]) * dy[k];
        if (q[k] > 0) klr += q[k] * std::log(q[k] * static_cast<double>(K));
      }
      for (std::int64_t k = 0; k < K; ++k) {
        const double st = training_ ? y[k] * (dy[k] - sy) / tau_ : 0.0;
        const double lq = q[k] > 0 ? std::log(q[k] * static_cast<double>(K)) : 0.0;
        dl_[r * K + k] = static_cast<T>(st + w * q[k] * (lq - klr));
      }
    }
    const tensor<T, B>* dzf = proj_ ? &proj_->backward(dl_) : &dl_;
    dz_.resize({N, D_, nhw_[1], nhw_[2]});
    detail::rows_to_nchw(dzf->data(), dz_.data(), N, D_, hw);
    return dz_;
  }

  double loss() const { return opt_.kl_weight * kl_; }
  double kl_to_uniform() const { return kl_; }
  const tensor<std::int32_t, B>& indices() const { return idx_; }

  // tokens [N, h, w] → E[tokens] as [N, code_dim, h, w] (evaluation's z_q).
  void lookup(const tensor<std::int32_t, B>& idx, tensor<T, B>& zq) {
    check(idx.rank() == 3, [&] { return cat("GumbelQuantizer::lookup: expected tokens [N, h, w], got ", idx.shape()); });
    const std::int64_t N = idx.dim(0), hw = idx.dim(1) * idx.dim(2);
    zq.resize({N, C_, idx.dim(1), idx.dim(2)});
    for (std::int64_t r = 0; r < N * hw; ++r) {
      check(idx[r] >= 0 && idx[r] < K_, [&] {
        return cat("GumbelQuantizer::lookup: token ", idx[r], " at position ", r, " is outside [0, ", K_, ")");
      });
      const std::int64_t n = r / hw, p = r % hw;
      for (std::int64_t c = 0; c < C_; ++c) zq[(n * C_ + c) * hw + p] = codebook_.value[idx[r] * C_ + c];
    }
  }

  codebook_stats& stats() { return stats_; }
  const codebook_stats& stats() const { return stats_; }
  std::int64_t codebook_size() const { return K_; }
  parameter<T>& codebook() { return codebook_; }
  Linear<T, B>* proj() { return proj_ ? &*proj_ : nullptr; }

 private:
  // out = softmax(scale·(x + noise)); returns Σ out log(out·K) when `kl` (computed from log-softmax, stable).
  double softmax_row(const T* x, double scale, const T* noise, T* out, bool kl = false) const {
    const std::int64_t K = K_;
    double mx = -std::numeric_limits<double>::infinity();
    for (std::int64_t k = 0; k < K; ++k) mx = std::max(mx, scale * (x[k] + (noise ? noise[k] : T(0))));
    double s = 0;
    for (std::int64_t k = 0; k < K; ++k) s += std::exp(scale * (x[k] + (noise ? noise[k] : T(0))) - mx);
    const double lse = mx + std::log(s);
    double v = 0;
    for (std::int64_t k = 0; k < K; ++k) {
      const double lp = scale * (x[k] + (noise ? noise[k] : T(0))) - lse;
      out[k] = static_cast<T>(std::exp(lp));
      if (kl) v += std::exp(lp) * (lp + std::log(static_cast<double>(K)));
    }
    return v;
  }

  std::int64_t D_, K_, C_;
  gumbel_options opt_;
  generator rng_;
  std::int64_t rank_ = 0, ranks_ = 1;  // data-parallel share (set_share)
  codebook_stats stats_;
  parameter<T> codebook_;
  std::optional<Linear<T, B>> proj_;
  bool training_ = true, fixed_noise_ = false, forwarded_ = false;
  double tau_ = 1.0, kl_ = 0.0;
  shape nhw_{0, 0, 0};
  const tensor<T, B>* logits_ = nullptr;
  tensor<T, B> zf_, q_, y_, noise_, zr_, zq_, g_, dy_, dl_, dz_;
  tensor<std::int32_t, B> idx_;
};

}  // namespace vae
