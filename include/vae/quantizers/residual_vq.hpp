// ResidualVQ (SoundStream): L VectorQuantizers applied to successive residuals; z_q = Σ of the levels' codes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vae/quantizers/vector_quantizer.hpp"

namespace vae {

// r_0 = z_e, e_i = VQ_i(r_i), r_{i+1} = r_i − sg[e_i], z_q = Σ_i e_i (value), with ONE straight-through
// estimator for the sum (z_e + sg[Σe − z_e], SoundStream) rather than one per level, so dz_e = dz_q + Σ_i
// (level i's commitment gradient in r_i) — dr_i/dz_e = I because the subtracted codes are detached. Level i's
// codebook gets its CodebookLoss gradient. loss() = Σ_i level loss. Tokens [L, N, h, w]; level(i) gives
// each level (its indices(), stats(), codebook()). Names: prefix + "layers.<i>." + the level's names.
// Levels take `options` with seed + i; projections/cosine are not supported here (codes live in z_e's space).
template <class T = float, class B = cpu>
class ResidualVQ {
 public:
  using value_type = T;
  using backend = B;

  ResidualVQ(std::int64_t num_levels, std::int64_t num_codes, std::int64_t dim, quantizer_options opt = {})
      : dim_(dim) {
    check(num_levels > 0, [&] { return cat("ResidualVQ: needs at least one level, got ", num_levels); });
    check(!opt.cosine && (opt.codebook_dim == 0 || opt.codebook_dim == dim),
          "ResidualVQ: levels quantize residuals in z_e's space (no cosine codes or projections)");
    for (std::int64_t i = 0; i < num_levels; ++i) {
      quantizer_options o = opt;
      o.seed = opt.seed + static_cast<std::uint64_t>(i);
      levels_.emplace_back(num_codes, dim, o);
    }
    residuals_.resize(static_cast<std::size_t>(num_levels));
  }

  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    for (std::size_t i = 0; i < levels_.size(); ++i)
      levels_[i].visit_parameters(prefix + "layers." + std::to_string(i) + ".", visit);
  }
  void set_training(bool training) {
    for (auto& l : levels_) l.set_training(training);
  }

  const tensor<T, B>& forward(const tensor<T, B>& z) {
    check(z.rank() == 4 && z.dim(1) == dim_,
          [&] { return cat("ResidualVQ::forward: expected z_e [N, ", dim_, ", h, w], got ", z.shape()); });
    const std::int64_t L = levels(), n = z.numel(), per = z.dim(0) * z.dim(2) * z.dim(3);
    zq_.resize(z.shape());
    zq_.zero();
    idx_.resize({L, z.dim(0), z.dim(2), z.dim(3)});
    residuals_[0] = z;
    for (std::int64_t i = 0; i < L; ++i) {
      const auto& e = levels_[i].forward(residuals_[i]);
      for (std::int64_t j = 0; j < n; ++j) zq_[j] += e[j];
      if (i + 1 < L) {
        residuals_[i + 1].resize(z.shape());
        for (std::int64_t j = 0; j < n; ++j) residuals_[i + 1][j] = residuals_[i][j] - e[j];
      }
      std::copy(levels_[i].indices().begin(), levels_[i].indices().end(), idx_.data() + i * per);
    }
    forwarded_ = true;
    return zq_;
  }

  const tensor<T, B>& backward(const tensor<T, B>& dzq) {
    check(forwarded_, "ResidualVQ::backward called before forward");
    check_shape(dzq.shape(), zq_.shape(), "ResidualVQ::backward: dz_q");
    dz_ = dzq;
    for (auto& l : levels_) {
      const auto& g = l.template backward_term<CommitmentLoss>();
      for (std::int64_t j = 0; j < dz_.numel(); ++j) dz_[j] += g[j];
      l.template backward_term<CodebookLoss>();
    }
    return dz_;
  }

  double loss() const {
    double s = 0;
    for (const auto& l : levels_) s += l.loss();
    return s;
  }
  const tensor<std::int32_t, B>& indices() const { return idx_; }

  // tokens [L, N, h, w] → Σ_i E_i[tokens_i] as [N, D, h, w] (summed in level order, as forward).
  void lookup(const tensor<std::int32_t, B>& idx, tensor<T, B>& zq) {
    check(idx.rank() == 4 && idx.dim(0) == levels(), [&] {
      return cat("ResidualVQ::lookup: expected tokens [", levels(), ", N, h, w], got ", idx.shape());
    });
    const std::int64_t per = idx.dim(1) * idx.dim(2) * idx.dim(3);
    level_idx_.resize({idx.dim(1), idx.dim(2), idx.dim(3)});
    zq.resize({idx.dim(1), dim_, idx.dim(2), idx.dim(3)});
    zq.zero();
    for (std::int64_t i = 0; i < levels(); ++i) {
      std::copy(idx.data() + i * per, idx.data() + (i + 1) * per, level_idx_.data());
      levels_[i].lookup(level_idx_, level_out_);
      for (std::int64_t j = 0; j < zq.numel(); ++j) zq[j] += level_out_[j];
    }
  }

  // Statistics of the first level (each level's via level(i).stats()).
  codebook_stats& stats() { return levels_[0].stats(); }
  const codebook_stats& stats() const { return levels_[0].stats(); }
  std::int64_t codebook_size() const { return levels_[0].codebook_size(); }
  std::int64_t levels() const { return static_cast<std::int64_t>(levels_.size()); }
  VectorQuantizer<T, B>& level(std::int64_t i) { return levels_[static_cast<std::size_t>(i)]; }
  const tensor<T, B>& residual(std::int64_t i) const { return residuals_[static_cast<std::size_t>(i)]; }

 private:
  std::int64_t dim_;
  std::vector<VectorQuantizer<T, B>> levels_;
  std::vector<tensor<T, B>> residuals_;
  bool forwarded_ = false;
  tensor<T, B> zq_, dz_, level_out_;
  tensor<std::int32_t, B> idx_, level_idx_;
};

}  // namespace vae
