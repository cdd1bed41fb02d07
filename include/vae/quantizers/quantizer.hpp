// The Quantizer concept, its options, the named loss terms (CodebookLoss, CommitmentLoss) and per-epoch codebook statistics.
#pragma once
#include <cmath>
#include <concepts>
#include <cstdint>
#include <string>
#include <vector>

#include "vae/backend/cpu.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/ops/vq_terms.hpp"

namespace vae {

// Which encoder output a dead code restarts from. uniform: any row of the batch alike, so re-seeded codes follow where
// rows are most numerous (on flat scenes, the background). squared_error: a row with probability proportional to its
// squared distance to the code it took (k-means++'s D² rule), so they go where the codebook serves the batch worst.
enum class restart_draw { uniform, squared_error };

// Options shared by VectorQuantizer and EMAVectorQuantizer (and the levels of ResidualVQ).
struct quantizer_options {
  double beta = 0.25;                       // weight of the commitment term ‖z_e − sg[e]‖²
  bool kmeans_init = false;                 // on the first training forward, run Lloyd's k-means on that batch
  int kmeans_iters = 10;                    //   and use the centroids as the codebook (done once; "initted" buffer)
  std::int64_t restart_after_steps = 0;     // > 0: a code unused for this many training steps is re-seeded from
                                            //   an encoder output of the current batch (0 = never),
  restart_draw restart_from = restart_draw::uniform;  //   drawn as restart_draw says
  bool cosine = false;                      // l2-normalise encoder outputs and codes before matching (and in the loss)
  std::int64_t codebook_dim = 0;            // > 0 and ≠ D: low-dimensional codes with Linear D→d in, d→D out
  double ema_decay = 0.99;                  // EMAVectorQuantizer only
  double ema_eps = 1e-5;                    // EMAVectorQuantizer only: Laplace smoothing of the cluster sizes
  std::uint64_t seed = 0;                   // generator for k-means seeding and restarts (not checkpointed)
};

// Codebook usage accumulated over many forward calls (an epoch): counts per code → perplexity and fraction of
// codes used over the whole epoch, not per batch; plus the number of dead-code restarts in the same span.
// Every non-frozen forward (training or evaluation) adds its indices; the caller resets at epoch boundaries.
class codebook_stats {
 public:
  explicit codebook_stats(std::int64_t codebook_size = 0) : counts_(static_cast<std::size_t>(codebook_size), 0) {}

  void add(const std::int32_t* idx, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) ++counts_[static_cast<std::size_t>(idx[i])];
    total_ += n;
  }
  // Adds per-code counts (counts[k] for every code k, n = Σ counts): the same as add() of the indices they count.
  void add_counts(const std::vector<std::int64_t>& counts, std::int64_t n) {
    for (std::size_t k = 0; k < counts_.size(); ++k) counts_[k] += counts[k];
    total_ += n;
  }
  void add_restarts(std::int64_t n) { restarts_ += n; }
  void reset() {
    std::fill(counts_.begin(), counts_.end(), 0);
    total_ = 0;
    restarts_ = 0;
  }

  std::int64_t codebook_size() const { return static_cast<std::int64_t>(counts_.size()); }
  std::int64_t total() const { return total_; }
  const std::vector<std::int64_t>& counts() const { return counts_; }
  std::int64_t codes_used() const {
    std::int64_t u = 0;
    for (const auto c : counts_) u += c > 0;
    return u;
  }
  double fraction_used() const {
    return counts_.empty() ? 0.0 : static_cast<double>(codes_used()) / static_cast<double>(counts_.size());
  }
  // exp(entropy) of the empirical code distribution, in [1, K]; 0 when nothing was counted.
  double perplexity() const {
    if (total_ == 0) return 0.0;
    double h = 0;
    for (const auto c : counts_)
      if (c > 0) {
        const double p = static_cast<double>(c) / static_cast<double>(total_);
        h -= p * std::log(p);
      }
    return std::exp(h);
  }
  std::int64_t restarts() const { return restarts_; }

 private:
  std::vector<std::int64_t> counts_;
  std::int64_t total_ = 0;
  std::int64_t restarts_ = 0;
};

// The two VQ loss terms as distinct types (DESIGN §3). Both equal a mean squared error between the encoder
// output z (after projection/normalisation) and its selected code e; they differ in where the gradient goes.
// Tags, used as q.term_value<CodebookLoss>() and q.backward_term<CodebookLoss>():
// CodebookLoss: mean‖sg[z] − e‖² (weight 1) → gradient reaches the codebook only.
struct CodebookLoss {
  static constexpr const char* name = "codebook_loss";
};
// CommitmentLoss: β · mean‖z − sg[e]‖² (β = quantizer_options::beta) → gradient reaches the encoder only.
struct CommitmentLoss {
  static constexpr const char* name = "commitment_loss";
};

// Quantizer: z_e [N, D, h, w] → z_q (the straight-through value) and integer tokens.
// forward(z_e) returns z_q; indices() the tokens of the last forward ([N, h, w], or [levels, N, h, w] for
// ResidualVQ); loss() the quantizer's own weighted loss of the last forward; backward(dz_q) WRITES dz_e
// (straight-through plus the loss terms' encoder gradient) and ADDS codebook gradients; lookup(idx, z_q)
// decodes tokens; visit_parameters names the codebook prefix + "weight" (a model passes "codebook.", giving
// PyTorch's "codebook.weight"); stats() accumulates usage until reset().
template <class Q>
concept Quantizer = requires(Q& q, const tensor<typename Q::value_type, typename Q::backend>& z,
                             tensor<typename Q::value_type, typename Q::backend>& out,
                             const tensor<std::int32_t, typename Q::backend>& idx, const std::string& prefix,
                             detail::parameter_visitor_archetype<typename Q::value_type> visit) {
  typename Q::value_type;
  typename Q::backend;
  { q.forward(z) } -> std::convertible_to<const tensor<typename Q::value_type, typename Q::backend>&>;
  { q.backward(z) } -> std::convertible_to<const tensor<typename Q::value_type, typename Q::backend>&>;
  { q.indices() } -> std::convertible_to<const tensor<std::int32_t, typename Q::backend>&>;
  { q.loss() } -> std::convertible_to<double>;
  q.lookup(idx, out);
  q.set_training(true);
  q.visit_parameters(prefix, visit);
  { q.stats() } -> std::convertible_to<const codebook_stats&>;
  { q.codebook_size() } -> std::convertible_to<std::int64_t>;
};

// Quantizers whose behaviour depends on the training step (Gumbel temperature) expose set_step.
template <class Q>
concept HasStep = requires(Q& q, std::int64_t step) { q.set_step(step); };

namespace detail {
// [N, C, h, w] → rows [N·h·w, C] (row r = (n, y, x)) and back, on the host (the cpu kernels of ops/vq_terms.hpp).
template <class T>
void nchw_to_rows(const T* src, T* dst, std::int64_t n, std::int64_t c, std::int64_t hw) {
  ops::nchw_to_rows<cpu>(n, c, hw, src, dst);
}
template <class T>
void rows_to_nchw(const T* src, T* dst, std::int64_t n, std::int64_t c, std::int64_t hw) {
  ops::rows_to_nchw<cpu>(n, c, hw, src, dst);
}
}  // namespace detail

}  // namespace vae
