// FSQ (finite scalar quantization, Mentzer et al. 2023): bounded tanh per channel, rounding with a straight-through gradient.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "vae/backend/cpu.hpp"
#include "vae/core/tensor.hpp"
#include "vae/quantizers/quantizer.hpp"

namespace vae {

// z_e [N, D, h, w] with D = levels.size(). Per channel c with L = levels[c] (the reference implementation):
//   half_l = (L − 1)(1 − 1e-3)/2, offset = 0.5 for even L else 0, shift = tan(offset / half_l),
//   b = tanh(z + shift)·half_l − offset,  z_q = round(b) / (L div 2)   (round: straight-through)
// so channel c takes L values. The implicit codebook has ∏L codes; a token is the mixed-radix number
// Σ_c digit_c · ∏_{c'<c} L_c' with digit_c = round(b) + L div 2 ∈ [0, L). No parameters, no loss (loss() = 0).
template <class T = float, class B = cpu>
class FSQ {
 public:
  using value_type = T;
  using backend = B;
  static_assert(HostBackend<B>, "FSQ: host backends only for now");

  explicit FSQ(std::vector<int> levels) : levels_(std::move(levels)) {
    check(!levels_.empty(), "FSQ: needs at least one level");
    std::int64_t size = 1;
    for (const int L : levels_) {
      check(L >= 2, [&] { return cat("FSQ: every level must be at least 2, got ", L); });
      basis_.push_back(size);
      size *= L;
      check(size <= std::numeric_limits<std::int32_t>::max(), "FSQ: the implicit codebook exceeds int32 tokens");
      const double half_l = (L - 1) * (1 - 1e-3) / 2, offset = L % 2 == 0 ? 0.5 : 0.0;
      half_l_.push_back(half_l);
      offset_.push_back(offset);
      shift_.push_back(std::tan(offset / half_l));
      half_width_.push_back(L / 2);
    }
    size_ = size;
    stats_ = codebook_stats(size_);
  }

  template <class Visitor>
  void visit_parameters(const std::string&, Visitor&&) {}
  void set_training(bool) {}

  const tensor<T, B>& forward(const tensor<T, B>& z) {
    const std::int64_t D = dim();
    check(z.rank() == 4 && z.dim(1) == D,
          [&] { return cat("FSQ::forward: expected z_e [N, ", D, ", h, w] (one channel per level), got ", z.shape()); });
    if (frozen_) check(z.shape() == zq_.shape(), "FSQ::forward: frozen rounding needs the input shape it was frozen with");
    const std::int64_t N = z.dim(0), hw = z.dim(2) * z.dim(3);
    z_ = &z;
    zq_.resize(z.shape());
    if (!frozen_) {
      round_off_.resize(z.shape());
      idx_.resize({N, z.dim(2), z.dim(3)});
    }
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t p = 0; p < hw; ++p) {
        std::int64_t token = 0;
        for (std::int64_t c = 0; c < D; ++c) {
          const std::int64_t i = (n * D + c) * hw + p;
          const double b = std::tanh(z[i] + shift_[c]) * half_l_[c] - offset_[c];
          if (!frozen_) round_off_[i] = static_cast<T>(std::nearbyint(b) - b);
          const double q = b + static_cast<double>(round_off_[i]);
          zq_[i] = frozen_ ? static_cast<T>(q / half_width_[c])
                           : static_cast<T>(std::nearbyint(b) / half_width_[c]);  // exact integers / L div 2
          if (!frozen_) token += (static_cast<std::int64_t>(std::nearbyint(b)) + half_width_[c]) * basis_[c];
        }
        if (!frozen_) idx_[n * hw + p] = static_cast<std::int32_t>(token);
      }
    if (!frozen_) stats_.add(idx_.data(), idx_.numel());
    return zq_;
  }

  // dz_e = dz_q · (1 − tanh²(z + shift))·half_l / (L div 2) (the rounding passes the gradient straight through).
  const tensor<T, B>& backward(const tensor<T, B>& dzq) {
    check(z_ != nullptr, "FSQ::backward called before forward");
    check_shape(dzq.shape(), zq_.shape(), "FSQ::backward: dz_q");
    const std::int64_t N = dzq.dim(0), D = dim(), hw = dzq.dim(2) * dzq.dim(3);
    dz_.resize(dzq.shape());
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t c = 0; c < D; ++c)
        for (std::int64_t p = 0; p < hw; ++p) {
          const std::int64_t i = (n * D + c) * hw + p;
          const double t = std::tanh((*z_)[i] + shift_[c]);
          dz_[i] = static_cast<T>(dzq[i] * (1 - t * t) * half_l_[c] / half_width_[c]);
        }
    return dz_;
  }

  double loss() const { return 0.0; }
  const tensor<std::int32_t, B>& indices() const { return idx_; }

  // tokens [N, h, w] → z_q [N, D, h, w], bit for bit what forward gave.
  void lookup(const tensor<std::int32_t, B>& idx, tensor<T, B>& zq) const {
    check(idx.rank() == 3, [&] { return cat("FSQ::lookup: expected tokens [N, h, w], got ", idx.shape()); });
    const std::int64_t N = idx.dim(0), D = dim(), hw = idx.dim(1) * idx.dim(2);
    zq.resize({N, D, idx.dim(1), idx.dim(2)});
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t p = 0; p < hw; ++p) {
        const std::int64_t t = idx[n * hw + p];
        check(t >= 0 && t < size_, [&] {
          return cat("FSQ::lookup: token ", t, " at position ", n * hw + p, " is outside [0, ", size_, ")");
        });
        for (std::int64_t c = 0; c < D; ++c) {
          const std::int64_t digit = (t / basis_[c]) % levels_[c];
          zq[(n * D + c) * hw + p] = static_cast<T>(static_cast<double>(digit - half_width_[c]) / half_width_[c]);
        }
      }
  }

  // For finite-difference tests: keeps the rounding offsets round(b) − b of the last forward, making forward
  // the smooth function (b + offset)/(L div 2) whose exact gradient is backward's.
  void set_frozen_assignment(bool frozen) {
    check(!frozen || z_ != nullptr, "FSQ::set_frozen_assignment: call forward first");
    frozen_ = frozen;
  }

  codebook_stats& stats() { return stats_; }
  const codebook_stats& stats() const { return stats_; }
  std::int64_t codebook_size() const { return size_; }
  std::int64_t dim() const { return static_cast<std::int64_t>(levels_.size()); }
  const std::vector<int>& levels() const { return levels_; }

 private:
  std::vector<int> levels_;
  std::vector<double> half_l_, offset_, shift_;
  std::vector<std::int64_t> half_width_, basis_;
  std::int64_t size_ = 0;
  codebook_stats stats_;
  bool frozen_ = false;
  const tensor<T, B>* z_ = nullptr;
  tensor<T, B> zq_, dz_, round_off_;
  tensor<std::int32_t, B> idx_;
};

}  // namespace vae
