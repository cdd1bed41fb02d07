// VectorQuantizer (VQ-VAE, van den Oord et al. 2017) and the shared nearest-code machinery of EMAVectorQuantizer.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "vae/backend/cpu.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"
#include "vae/dist/communicator.hpp"
#include "vae/layers/linear.hpp"
#include "vae/ops/add.hpp"
#include "vae/core/memory_space.hpp"
#include "vae/ops/vq_nearest.hpp"
#include "vae/ops/vq_terms.hpp"
#include "vae/quantizers/kmeans.hpp"
#include "vae/quantizers/quantizer.hpp"
#include "vae/quantizers/vq_data_parallel.hpp"

namespace vae {
namespace detail {

// Nearest-code quantizer over z_e [N, D, h, w]; Ema selects the codebook update (gradient of the CodebookLoss
// when false, exponential moving averages when true). Row r of the flattened input is position (n, y, x).
//
// Pipeline per row: z (D) → [in_proj: Linear D→d] → [cosine: z/‖z‖] = z_c (d) → nearest code by squared
// distance ‖z_c‖² − 2 z_c·Eᵀ + ‖E‖² (one GEMM, codes l2-normalised when cosine) → e (d) → [out_proj: Linear
// d→D] → z_q. The straight-through output value is e itself (so decoding tokens reproduces it bit for bit);
// its gradient reaches z_c unchanged. Losses are measured between z_c and e (in code space), mean over
// all M·d elements like F.mse_loss.
//
// Device backends (cuda): the plain and the EMA quantizer without projections or cosine run with every element loop
// in an op (ops/vq_nearest.hpp, ops/vq_terms.hpp, ops/add.hpp); the loss value and the per-code counts of the
// statistics are read back to the host once per forward (and the "initted" flag once per EMA training forward).
// k-means initialisation runs once, on the host, on a downloaded copy of the first batch (then the codebook is
// uploaded); dead-code restarts keep their decisions on the host (the per-code counts are there already) and copy the
// chosen rows on the device. Projections and cosine are refused at construction, naming the option.
template <class T, class B, bool Ema>
class vq_base {
  static constexpr bool host = HostBackend<B>;

 public:
  using value_type = T;
  using backend = B;

  vq_base(std::int64_t num_codes, std::int64_t dim, quantizer_options opt = {})
      : K_(num_codes), D_(dim), d_(opt.codebook_dim > 0 ? opt.codebook_dim : dim), opt_(opt), rng_(opt.seed),
        stats_(num_codes) {
    check(num_codes > 0 && dim > 0, [&] {
      return cat("VectorQuantizer: codebook size and dimension must be positive, got K=", num_codes, " D=", dim);
    });
    check(num_codes <= std::numeric_limits<std::int32_t>::max(), "VectorQuantizer: codebook size exceeds int32 tokens");
    check(opt.beta >= 0 && (!Ema || (opt.ema_decay >= 0 && opt.ema_decay < 1 && opt.ema_eps > 0)),
          [&] { return cat("VectorQuantizer: bad options beta=", opt.beta, " ema_decay=", opt.ema_decay); });
    if constexpr (!host) {
      const auto refuse = [&](bool used, const char* option) {
        check(!used, [&] {
          return cat(Ema ? "EMAVectorQuantizer<" : "VectorQuantizer<", B::name, ">: option ", option,
                     ": host backends only for now");
        });
      };
      refuse(opt.codebook_dim > 0 && opt.codebook_dim != dim, "codebook_dim (projections)");
      refuse(opt.cosine, "cosine");
    }
    codebook_.shape = {K_, d_};
    codebook_.init = parameter_init::uniform(-1.0 / static_cast<double>(K_), 1.0 / static_cast<double>(K_));
    codebook_.trainable = !Ema;
    if (d_ != D_) {
      in_proj_.emplace(D_, d_);
      out_proj_.emplace(d_, D_);
    }
    if (Ema) {
      ema_count_ = {shape{K_}, parameter_init::constant(1.0), false};
      ema_sum_ = {shape{K_, d_}, parameter_init::constant(0.0), false};
    }
    initted_ = {shape{1}, parameter_init::constant(0.0), false};
    unused_ = {shape{K_}, parameter_init::constant(0.0), false};
  }

  // Names (prefix is "codebook." in VQVAE): "weight" [K, d]; with projections "in_proj.weight/bias",
  // "out_proj.weight/bias"; buffers (trainable=false, saved in checkpoints): "ema_cluster_size" [K] and
  // "ema_embed_sum" [K, d] (EMA), "initted" [1] (EMA or k-means), "unused_steps" [K] (dead-code restart).
  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    visit(prefix + "weight", codebook_);
    if (in_proj_) {
      in_proj_->visit_parameters(prefix + "in_proj.", visit);
      out_proj_->visit_parameters(prefix + "out_proj.", visit);
    }
    if (Ema) {
      visit(prefix + "ema_cluster_size", ema_count_);
      visit(prefix + "ema_embed_sum", ema_sum_);
    }
    if (Ema || opt_.kmeans_init) visit(prefix + "initted", initted_);
    if (opt_.restart_after_steps > 0) visit(prefix + "unused_steps", unused_);
  }

  void set_training(bool training) { training_ = training; }
  bool training() const { return training_; }

  // Data-parallel training (host backends): with a communicator of more than one rank, every training forward acts
  // on the union of all ranks' rows (each rank holding an equal, rank-ordered share of the global batch), so every
  // rank keeps the same codebook and state, equal to one process's on the global batch:
  //   - k-means initialisation: the rows of every rank are gathered (rank order = the global batch's order) and every
  //     rank runs the same k-means on them with the same generator;
  //   - EMA: the per-code counts n_k (int64, exact) and row sums (double) are summed over ranks before the update;
  //   - dead-code restarts: the counts are global, every rank draws the same global row index, and the rank that
  //     holds that row broadcasts it;
  //   - stats() count the global batch.
  // Evaluation forwards (training off) stay local. nullptr (the default) or one rank: the single-process quantizer.
  void set_communicator(dist::collective* comm) {
    check(host || comm == nullptr || comm->size() == 1, [&] {
      return cat(Ema ? "EMAVectorQuantizer<" : "VectorQuantizer<", B::name, ">::set_communicator: host backends only");
    });
    comm_ = comm != nullptr && comm->size() > 1 ? comm : nullptr;
  }

  // z_e [N, D, h, w] → z_q [N, D, h, w]. In training mode (and not frozen) also: k-means initialisation once,
  // the EMA codebook update (EMA only, after z_q and the loss are taken from the pre-update codebook, as
  // Sonnet), dead-code restarts. Every non-frozen call adds its indices to stats().
  const tensor<T, B>& forward(const tensor<T, B>& z) {
    check(codebook_.bound(), "VectorQuantizer::forward: parameters are not attached to a parameter_store");
    check(z.rank() == 4 && z.dim(1) == D_,
          [&] { return cat("VectorQuantizer::forward: expected z_e [N, ", D_, ", h, w], got ", z.shape()); });
    const std::int64_t N = z.dim(0), hw = z.dim(2) * z.dim(3), M = N * hw;
    if (frozen_)
      check(z.shape() == zq_.shape(),
            "VectorQuantizer::forward: frozen assignment needs the same input shape as when it was frozen");
    nhw_ = shape{N, z.dim(2), z.dim(3)};
    zf_.resize({M, D_});
    ops::nchw_to_rows<B>(N, D_, hw, z.data(), zf_.data());
    const tensor<T, B>* zp = &zf_;
    if (in_proj_) zp = &in_proj_->forward(zf_);
    zp_ = zp;
    if (opt_.cosine) {  // host only (refused at construction on device backends)
      zn_.resize({M, d_});
      znorm_.resize({M});
      normalize_rows(zp->data(), zn_.data(), znorm_.data(), M);
      zc_ = &zn_;
    } else {
      zc_ = zp;
    }
    const bool learn = training_ && !frozen_;
    const bool shared = learn && comm_ != nullptr;
    rows_ = shared ? global_rows(*comm_, M) : M;
    if (learn && (Ema || opt_.kmeans_init) && !initialised()) initialise(M);
    const T* E = effective_codebook();
    eq_.resize({M, d_});
    if (!frozen_) {
      idx_.resize(nhw_);
      nearest(zc_->data(), E, M);
    }
    const T* zc = zc_->data();
    ops::vq_gather<B>(M, d_, E, idx_.data(), eq_.data());
    const double se = ops::vq_squared_error<B>(M, d_, zc, eq_.data());
    mse_ = M * d_ > 0 ? se / static_cast<double>(M * d_) : 0.0;
    const tensor<T, B>* st = &eq_;
    if (frozen_) {
      st_.resize({M, d_});
      ops::add<B>(M * d_, zc, offset_.data(), st_.data());
      st = &st_;
    }
    const tensor<T, B>* out = st;
    if (out_proj_) out = &out_proj_->forward(*st);
    zq_.resize(z.shape());
    ops::rows_to_nchw<B>(N, D_, hw, out->data(), zq_.data());
    if (!frozen_) {
      count_batch(M);
      if (shared) share_counts();
      stats_.add_counts(batch_counts_, rows_);
    }
    if (learn) {
      if constexpr (Ema) ema_update(M);
      if (opt_.restart_after_steps > 0) restart_dead_codes(M);
    }
    forwarded_ = true;
    return zq_;
  }

  // dz_q [N, D, h, w] → dz_e: straight-through (dz_q passed to z_c) + the CommitmentLoss gradient, chained
  // through normalisation and in_proj; the CodebookLoss gradient is ADDED to the codebook's grad (not EMA).
  const tensor<T, B>& backward(const tensor<T, B>& dzq) {
    check(forwarded_, "VectorQuantizer::backward called before forward");
    check_shape(dzq.shape(), zq_.shape(), "VectorQuantizer::backward: dz_q");
    const std::int64_t N = dzq.dim(0), hw = dzq.dim(2) * dzq.dim(3), M = N * hw;
    g_.resize({M, D_});
    ops::nchw_to_rows<B>(N, D_, hw, dzq.data(), g_.data());
    const tensor<T, B>* gl = &g_;
    if (out_proj_) gl = &out_proj_->backward(g_);
    dzc_.resize({M, d_});
    B::copy(dzc_.data(), gl->data(), static_cast<std::size_t>(M * d_));
    add_commitment_grad(M);
    if constexpr (!Ema) add_codebook_grad(M);
    return finish(M);
  }

  // The gradient of one loss term alone, for routing tests: returns its dz_e (zero for CodebookLoss) and
  // ADDS its codebook gradient (none for CommitmentLoss). No straight-through part.
  template <class Term>
  const tensor<T, B>& backward_term() {
    check(forwarded_, "VectorQuantizer::backward_term called before forward");
    const std::int64_t M = zc_->dim(0);
    dzc_.resize({M, d_});
    dzc_.zero();
    if constexpr (std::same_as<Term, CommitmentLoss>) add_commitment_grad(M);
    else if constexpr (std::same_as<Term, CodebookLoss>) {
      static_assert(!Ema, "EMAVectorQuantizer has no CodebookLoss term (its codebook follows moving averages)");
      add_codebook_grad(M);
    } else static_assert(sizeof(Term) == 0, "backward_term: Term is CodebookLoss or CommitmentLoss");
    return finish(M);
  }
  template <class Term>
  double term_value() const {
    if constexpr (std::same_as<Term, CommitmentLoss>) return opt_.beta * mse_;
    else {
      static_assert(std::same_as<Term, CodebookLoss> && !Ema, "term_value: CodebookLoss (not EMA) or CommitmentLoss");
      return mse_;
    }
  }

  // Codebook + β·commitment (VectorQuantizer) or β·commitment (EMA) of the last forward.
  double loss() const { return Ema ? opt_.beta * mse_ : (1.0 + opt_.beta) * mse_; }
  const tensor<std::int32_t, B>& indices() const { return idx_; }
  // Squared distances [N·h·w, K] of the last non-frozen forward (rows in (n, y, x) order); only with
  // set_keep_distances(true) (otherwise they are computed in bounded row blocks and not kept).
  const tensor<T, B>& distances() const {
    check(keep_distances_, "VectorQuantizer::distances: call set_keep_distances(true) before forward");
    return dist_;
  }
  void set_keep_distances(bool keep) { keep_distances_ = keep; }

  // tokens [N, h, w] → z_q [N, D, h, w], the same values forward produced for those tokens. Uses out_proj's
  // forward, so it invalidates a pending backward.
  void lookup(const tensor<std::int32_t, B>& idx, tensor<T, B>& zq) {
    check(codebook_.bound(), "VectorQuantizer::lookup: parameters are not attached to a parameter_store");
    check(idx.rank() == 3, [&] { return cat("VectorQuantizer::lookup: expected tokens [N, h, w], got ", idx.shape()); });
    const std::int64_t N = idx.dim(0), hw = idx.dim(1) * idx.dim(2), M = N * hw;
    // The range check reads a host copy of the tokens (B's memory may not be the host's).
    std::vector<std::int32_t> host_tokens(static_cast<std::size_t>(M));
    B::copy_to_host(host_tokens.data(), idx.data(), host_tokens.size());
    const std::int32_t* tokens = host_tokens.data();
    for (std::int64_t r = 0; r < M; ++r)
      check(tokens[r] >= 0 && tokens[r] < K_, [&] {
        return cat("VectorQuantizer::lookup: token ", tokens[r], " at position ", r, " is outside [0, ", K_, ")");
      });
    const T* E = effective_codebook();
    lk_.resize({M, d_});
    ops::vq_gather<B>(M, d_, E, idx.data(), lk_.data());
    const tensor<T, B>* out = &lk_;
    if (out_proj_) out = &out_proj_->forward(lk_);
    zq.resize({N, D_, idx.dim(1), idx.dim(2)});
    ops::rows_to_nchw<B>(N, D_, hw, out->data(), zq.data());
  }

  // For finite-difference tests: while frozen, forward keeps the last indices and the straight-through
  // offset c = e − z_c of the last forward, outputs out_proj(z_c + c) and measures the loss against the
  // CURRENT codebook rows of the frozen indices. That makes forward + loss a smooth function of z_e and every
  // trainable parameter whose exact gradient is what backward returns. No statistics or updates while frozen.
  void set_frozen_assignment(bool frozen) {
    if (frozen && !frozen_) {
      check(forwarded_, "VectorQuantizer::set_frozen_assignment: call forward first");
      offset_.resize(eq_.shape());
      ops::subtract<B>(eq_.numel(), eq_.data(), zc_->data(), offset_.data());
    }
    frozen_ = frozen;
  }

  codebook_stats& stats() { return stats_; }
  const codebook_stats& stats() const { return stats_; }
  std::int64_t codebook_size() const { return K_; }
  std::int64_t dim() const { return D_; }
  std::int64_t code_dim() const { return d_; }
  std::int64_t total_restarts() const { return total_restarts_; }
  const quantizer_options& options() const { return opt_; }
  parameter<T>& codebook() { return codebook_; }
  parameter<T>& ema_cluster_size() { return ema_count_; }
  parameter<T>& ema_embed_sum() { return ema_sum_; }
  parameter<T>& unused_steps() { return unused_; }
  bool initialised() const {
    if (!initted_.bound()) return false;
    T v{};
    B::copy_to_host(&v, initted_.value, 1);
    return v != T(0);
  }
  Linear<T, B>* in_proj() { return in_proj_ ? &*in_proj_ : nullptr; }
  Linear<T, B>* out_proj() { return out_proj_ ? &*out_proj_ : nullptr; }

 private:
  static constexpr double norm_eps = 1e-12;  // F.normalize's eps
  static constexpr std::int64_t distance_block_elements = std::int64_t{1} << 22;  // 16 MiB of float distances

  void normalize_rows(const T* src, T* dst, T* norms, std::int64_t rows) const {
    const std::int64_t d = d_;
    parallel_for(rows, rows * d, [&](std::int64_t r) {
      double s = 0;
      for (std::int64_t j = 0; j < d; ++j) s += static_cast<double>(src[r * d + j]) * src[r * d + j];
      const double n = std::max(std::sqrt(s), norm_eps);
      norms[r] = static_cast<T>(n);
      for (std::int64_t j = 0; j < d; ++j) dst[r * d + j] = static_cast<T>(src[r * d + j] / n);
    });
  }
  const T* effective_codebook() {
    if (!opt_.cosine) return codebook_.value;
    en_.resize({K_, d_});
    enorm_.resize({K_});
    normalize_rows(codebook_.value, en_.data(), enorm_.data(), K_);
    return en_.data();
  }

  // Distances as one GEMM (−2 z·Eᵀ) plus the two squared norms, then a parallel argmin per row (first minimum):
  // the vq_nearest op (ops/vq_nearest.hpp). Rows go in blocks of at most distance_block_elements / K so the
  // distance buffer stays bounded (a 32×32 grid with K = 2048 at batch 128 would need 1 GiB at once); with
  // keep_distances all M·K distances are kept.
  // Rows per distance block for M rows: all of them with keep_distances, else distance_block_elements / K.
  std::int64_t distance_block(std::int64_t M) const {
    return keep_distances_ ? std::max<std::int64_t>(M, 1) : std::max<std::int64_t>(1, distance_block_elements / K_);
  }
  void nearest(const T* z, const T* E, std::int64_t M) {
    const std::int64_t K = K_, d = d_;
    enorm2_.resize({K});
    ops::vq_code_norms<B>(vq_nearest_dims{M, K, d}, E, enorm2_.data());
    const std::int64_t block = distance_block(M);
    dist_.resize({std::min(M, block), K});
    for (std::int64_t r0 = 0; r0 < M; r0 += block) {
      const std::int64_t rows = std::min(block, M - r0);
      ops::vq_nearest<B>(vq_nearest_dims{rows, K, d}, z + r0 * d, E, enorm2_.data(), dist_.data(), idx_.data() + r0);
    }
  }

  void add_commitment_grad(std::int64_t M) {
    const double s = 2.0 * opt_.beta / static_cast<double>(M * d_);
    ops::vq_commitment_grad<B>(M * d_, s, zc_->data(), eq_.data(), dzc_.data());
  }
  void add_codebook_grad(std::int64_t M) {
    if (!codebook_.grad) return;
    const T* zc = zc_->data();
    const double s = 2.0 / static_cast<double>(M * d_);
    const std::int64_t d = d_;
    if (!opt_.cosine) {
      ops::vq_codebook_grad<B>(M, K_, d, s, idx_.data(), zc, eq_.data(), codebook_.grad_to_add());
      return;
    }
    if constexpr (host) add_cosine_codebook_grad(M, s);
  }
  // The cosine codebook's gradient, host only (cosine is refused on device backends).
  void add_cosine_codebook_grad(std::int64_t M, double s) {
    const T* zc = zc_->data();
    const std::int64_t d = d_;
    // Through the row normalisation e = E/‖E‖: dE = (de − e (e·de)) / ‖E‖.
    den_.resize({K_, d});
    den_.zero();
    for (std::int64_t r = 0; r < M; ++r) {
      T* g = den_.data() + idx_[r] * d;
      for (std::int64_t j = 0; j < d; ++j) g[j] += static_cast<T>(s * (eq_[r * d + j] - zc[r * d + j]));
    }
    T* dcodebook = codebook_.grad_to_add();
    for (std::int64_t k = 0; k < K_; ++k) {
      const T* e = en_.data() + k * d;
      const T* g = den_.data() + k * d;
      double dot = 0;
      for (std::int64_t j = 0; j < d; ++j) dot += static_cast<double>(e[j]) * g[j];
      for (std::int64_t j = 0; j < d; ++j) dcodebook[k * d + j] += static_cast<T>((g[j] - e[j] * dot) / enorm_[k]);
    }
  }
  // dz_c (in dzc_) → through the normalisation and in_proj → dz_e [N, D, h, w].
  const tensor<T, B>& finish(std::int64_t M) {
    const tensor<T, B>* g = &dzc_;
    const std::int64_t d = d_;
    if (opt_.cosine) {  // host only (refused at construction on device backends)
      dzp_.resize({M, d});
      T* out = dzp_.data();
      const T* norms = znorm_.data();
      parallel_for(M, M * d, [&](std::int64_t r) {
        const T* zn = zn_.data() + r * d;
        const T* gr = dzc_.data() + r * d;
        double dot = 0;
        for (std::int64_t j = 0; j < d; ++j) dot += static_cast<double>(zn[j]) * gr[j];
        for (std::int64_t j = 0; j < d; ++j) out[r * d + j] = static_cast<T>((gr[j] - zn[j] * dot) / norms[r]);
      });
      g = &dzp_;
    }
    if (in_proj_) g = &in_proj_->backward(*g);
    dze_.resize({nhw_[0], D_, nhw_[1], nhw_[2]});
    ops::rows_to_nchw<B>(nhw_[0], D_, nhw_[1] * nhw_[2], g->data(), dze_.data());
    return dze_;
  }

  // counts_[k] = how many of this forward's M rows chose code k (the op, in B's memory: the EMA update reads it
  // there), and its host copy batch_counts_ (the statistics and the restarts read that).
  void count_batch(std::int64_t M) {
    counts_.resize({K_});
    ops::vq_code_counts<B>(M, K_, idx_.data(), counts_.data());
    batch_counts_.resize(static_cast<std::size_t>(K_));
    B::copy_to_host(batch_counts_.data(), counts_.data(), static_cast<std::size_t>(K_));
  }

  // First training forward: optional k-means on this batch's z_c, then (EMA) the moving averages start from
  // the codebook with a cluster size of 1 per code.
  void initialise(std::int64_t M) {
    if (opt_.kmeans_init && M > 0) kmeans_init(M);
    if constexpr (Ema) {  // reset_ema(k) for every k
      B::fill(ema_count_.value, static_cast<std::size_t>(K_), T(1));
      B::copy(ema_sum_.value, codebook_.value, static_cast<std::size_t>(K_ * d_));
    }
    B::fill(initted_.value, 1, T(1));
  }
  void reset_ema(std::int64_t k) {
    if constexpr (Ema) {
      B::fill(ema_count_.value + k, 1, T(1));
      B::copy(ema_sum_.value + k * d_, codebook_.value + k * d_, static_cast<std::size_t>(d_));
    }
  }

  // k-means on the host whatever the backend: it runs once, its k-means++ seeding is a sequential loop of draws, and
  // its Lloyd steps reuse the cpu's nearest-code op. On a host backend the copies are plain copies (same result as
  // running in place); on a device the first batch's z_c is downloaded and the codebook uploaded.
  void kmeans_init(std::int64_t M) {
    std::vector<T> z(static_cast<std::size_t>(M * d_)), E(static_cast<std::size_t>(K_ * d_));
    B::copy_to_host(z.data(), zc_->data(), z.size());
    if (comm_ != nullptr && training_) {
      gather_rows(*comm_, z, rows_ * d_);
      M = rows_;
    }
    detail::kmeans(z.data(), E.data(), M, K_, d_, opt_.kmeans_iters, opt_.cosine, norm_eps, distance_block(M), rng_);
    B::copy_from_host(codebook_.value, E.data(), E.size());
  }

  // N_k ← λN_k + (1−λ)n_k, S_k ← λS_k + (1−λ)Σ_{r→k} z_r, Ñ_k = (N_k + ε)/(ΣN + Kε)·ΣN, E_k = S_k/Ñ_k: the
  // vq_ema_update op, with this batch's counts n_k from count_batch.
  void ema_update(std::int64_t M) {
    if (comm_ != nullptr) {
      if constexpr (host) {
        shared_ema_update(*comm_, M, K_, d_, opt_.ema_decay, opt_.ema_eps, zc_->data(), idx_.data(), counts_.data(),
                          ema_count_.value, ema_sum_.value, codebook_.value);
        return;
      }
    }
    ops::vq_ema_update<B>(vq_ema_args{M, K_, d_, opt_.ema_decay, opt_.ema_eps}, idx_.data(), zc_->data(),
                          counts_.data(), ema_count_.value, ema_sum_.value, codebook_.value);
  }

  // This batch's per-code counts summed over ranks, in counts_ (the EMA update reads them) and batch_counts_.
  void share_counts() {
    comm_->allreduce_sum(batch_counts_.data(), batch_counts_.size());
    B::copy_from_host(counts_.data(), batch_counts_.data(), batch_counts_.size());
  }

  // unused_steps_k ← 0 if code k was used in this batch, else +1; at restart_after_steps the code takes a row of
  // this batch's z_c (opt_.restart_from: any row alike, or one drawn ∝ its squared distance to its code) and its EMA
  // state restarts with it; the restart is counted. The counters are kept on the host for the decisions (downloaded
  // and uploaded: K values) and the rows are copied in B's memory.
  void restart_dead_codes(std::int64_t M) {
    std::int64_t n = 0;
    unused_host_.resize(static_cast<std::size_t>(K_));
    B::copy_to_host(unused_host_.data(), unused_.value, unused_host_.size());
    row_errors_.clear();
    for (std::int64_t k = 0; k < K_; ++k) {
      T& unused = unused_host_[static_cast<std::size_t>(k)];
      unused = batch_counts_[k] > 0 ? T(0) : unused + T(1);
      if (unused < static_cast<T>(opt_.restart_after_steps) || M == 0) continue;
      if (opt_.restart_from == restart_draw::squared_error) {
        if (row_errors_.empty()) measure_row_errors(M);
        restart_from_error(k, M);
      } else if (comm_ != nullptr) {
        if constexpr (host) {  // the global row g lives on rank g / M, which broadcasts it
          const auto g = static_cast<std::int64_t>(rng_.below(static_cast<std::uint64_t>(rows_)));
          const int owner = static_cast<int>(g / M);
          restart_row_.assign(zc_->data() + (g % M) * d_, zc_->data() + (g % M + 1) * d_);
          broadcast_row(*comm_, restart_row_, owner);
          std::copy(restart_row_.begin(), restart_row_.end(), codebook_.value + k * d_);
        }
      } else {
        const auto r = static_cast<std::int64_t>(rng_.below(static_cast<std::uint64_t>(M)));
        B::copy(codebook_.value + k * d_, zc_->data() + r * d_, static_cast<std::size_t>(d_));
      }
      reset_ema(k);
      unused = T(0);
      ++n;
    }
    B::copy_from_host(unused_.value, unused_host_.data(), unused_host_.size());
    stats_.add_restarts(n);
    total_restarts_ += n;
  }

  // row_errors_[r] = ‖z_c,r − e_idx(r)‖² in double (e from the codebook the rows were matched against, in eq_), and
  // rank_errors_ every rank's sum of them (one entry without a communicator).
  void measure_row_errors(std::int64_t M) {
    std::vector<T> z(static_cast<std::size_t>(M * d_)), e(z.size());
    B::copy_to_host(z.data(), zc_->data(), z.size());
    B::copy_to_host(e.data(), eq_.data(), e.size());
    row_errors_.assign(static_cast<std::size_t>(M), 0.0);
    double total = 0;
    for (std::int64_t r = 0; r < M; ++r) {
      double s = 0;
      for (std::int64_t j = 0; j < d_; ++j) {
        const double diff = static_cast<double>(z[r * d_ + j]) - static_cast<double>(e[r * d_ + j]);
        s += diff * diff;
      }
      row_errors_[r] = s;
      total += s;
    }
    const int ranks = comm_ != nullptr ? comm_->size() : 1;
    rank_errors_.assign(static_cast<std::size_t>(ranks), 0.0);
    rank_errors_[comm_ != nullptr ? comm_->rank() : 0] = total;
    if (comm_ != nullptr) comm_->allreduce_sum(rank_errors_.data(), rank_errors_.size());
  }

  // Code k ← the row drawn ∝ row_errors_ over the global batch; the row's error is then taken out of the draw, so two
  // codes restarted in one step take different rows. With a communicator every rank draws the same u from the same
  // generator, the owning rank finds the row and broadcasts it with its error. Where every row sits on its code
  // (no error left), any row alike.
  void restart_from_error(std::int64_t k, std::int64_t M) {
    double all = 0;
    for (double t : rank_errors_) all += t;
    if (!(all > 0)) {  // the uniform draw, from the same generator on every rank
      const auto g = static_cast<std::int64_t>(rng_.below(static_cast<std::uint64_t>(rows_)));
      copy_row_to_code(k, g / M, g % M, /*with_error=*/false);
      return;
    }
    const double u = rng_.uniform() * all;
    int owner = 0;
    double before = 0;
    while (owner + 1 < static_cast<int>(rank_errors_.size()) && before + rank_errors_[owner] <= u)
      before += rank_errors_[owner++];
    std::int64_t r = -1;
    if (comm_ == nullptr || comm_->rank() == owner) {
      double cum = before;
      for (std::int64_t i = 0; i < M; ++i) {
        if (row_errors_[i] <= 0) continue;
        r = i;  // the last row with error left, should rounding carry u past the end
        cum += row_errors_[i];
        if (cum > u) break;
      }
      if (r < 0) r = 0;  // rounding left error on this rank's sum after its rows were all taken: any row
    }
    copy_row_to_code(k, owner, r, /*with_error=*/true);
  }

  // codebook row k ← row r of rank `owner`'s z_c (this process's without a communicator); with_error: the row's
  // error leaves the draw (rank_errors_ on every rank, row_errors_ on the owner).
  void copy_row_to_code(std::int64_t k, std::int64_t owner, std::int64_t r, bool with_error) {
    if (comm_ == nullptr) {
      B::copy(codebook_.value + k * d_, zc_->data() + r * d_, static_cast<std::size_t>(d_));
      if (with_error) {
        rank_errors_[0] -= row_errors_[r];
        row_errors_[r] = 0;
      }
      return;
    }
    if constexpr (host) {
      const bool mine = comm_->rank() == owner;
      restart_row_.assign(static_cast<std::size_t>(d_ + 1), T(0));
      if (mine) {
        std::copy(zc_->data() + r * d_, zc_->data() + (r + 1) * d_, restart_row_.begin());
        restart_row_[d_] = static_cast<T>(with_error ? row_errors_[r] : 0.0);
      }
      broadcast_row(*comm_, restart_row_, static_cast<int>(owner));
      std::copy(restart_row_.begin(), restart_row_.begin() + d_, codebook_.value + k * d_);
      if (with_error) {
        // The owner's own sum loses exactly what every other rank subtracts: the broadcast value.
        rank_errors_[owner] -= static_cast<double>(restart_row_[d_]);
        if (mine) row_errors_[r] = 0;
      }
    }
  }

  std::int64_t K_, D_, d_;
  quantizer_options opt_;
  dist::collective* comm_ = nullptr;
  std::int64_t rows_ = 0;  // rows of the global batch in the last forward (this rank's M without a communicator)
  std::vector<T> restart_row_;
  generator rng_;
  codebook_stats stats_;
  parameter<T> codebook_, ema_count_, ema_sum_, initted_, unused_;
  std::optional<Linear<T, B>> in_proj_, out_proj_;
  bool training_ = true, frozen_ = false, forwarded_ = false, keep_distances_ = false;
  double mse_ = 0;
  std::int64_t total_restarts_ = 0;
  std::vector<T> unused_host_;
  std::vector<double> row_errors_, rank_errors_;  // restart_draw::squared_error: this batch's, while restarting
  shape nhw_{0, 0, 0};
  const tensor<T, B>* zp_ = nullptr;
  const tensor<T, B>* zc_ = nullptr;
  tensor<T, B> zf_, zn_, znorm_, en_, enorm_, enorm2_, dist_, eq_, st_, offset_, zq_, g_, dzc_, dzp_, den_, dze_, lk_;
  tensor<std::int32_t, B> idx_;
  tensor<std::int64_t, B> counts_;
  std::vector<std::int64_t> batch_counts_;
};

}  // namespace detail

// VectorQuantizer: codebook [K, d] trained by the CodebookLoss gradient; loss = ‖sg[z] − e‖² + β‖z − sg[e]‖²
// (means over all elements), β = options.beta (0.25). Codebook init U(−1/K, 1/K) like the reference.
template <class T = float, class B = cpu>
class VectorQuantizer : public detail::vq_base<T, B, false> {
 public:
  using detail::vq_base<T, B, false>::vq_base;
};

}  // namespace vae
