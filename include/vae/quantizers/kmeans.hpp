// k-means++ seeding and Lloyd's algorithm on host rows: the codebook initialisation of the nearest-code quantizers.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "vae/backend/cpu.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"
#include "vae/ops/vq_nearest.hpp"

namespace vae::detail {

// Nearest codes of host rows z [M, d] in host E [K, d] with the cpu op, `block` rows per GEMM (the quantizer's
// blocking, so the same rows share a product).
template <class T>
void nearest_codes_on_host(const T* z, const T* E, std::int64_t M, std::int64_t K, std::int64_t d, std::int64_t block,
                           std::vector<std::int32_t>& idx) {
  tensor<T, cpu> enorm2({K});
  ops::vq_code_norms<cpu>(vq_nearest_dims{M, K, d}, E, enorm2.data());
  tensor<T, cpu> dist({std::min(M, block), K});
  idx.resize(static_cast<std::size_t>(M));
  for (std::int64_t r0 = 0; r0 < M; r0 += block) {
    const std::int64_t rows = std::min(block, M - r0);
    ops::vq_nearest<cpu>(vq_nearest_dims{rows, K, d}, z + r0 * d, E, enorm2.data(), dist.data(), idx.data() + r0);
  }
}

// Lloyd's algorithm on the host rows z [M, d] from k-means++ seeds into the host codebook E [K, d] (every row
// written); an empty cluster keeps its centroid; with cosine codes the centroids are re-normalised after each mean
// (spherical k-means, norms floored at norm_eps). Draws from rng; nearest codes go in blocks of `block` rows.
template <class T>
void kmeans(const T* z, T* E, std::int64_t M, std::int64_t K, std::int64_t d, int iters, bool cosine, double norm_eps,
            std::int64_t block, generator& rng) {
  // k-means++ seeding: each next centroid is a row drawn with probability ∝ its squared distance to the
  // nearest centroid so far (uniform once every row coincides with a centroid).
  std::vector<double> dmin(static_cast<std::size_t>(M), std::numeric_limits<double>::infinity());
  auto r = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(M)));
  for (std::int64_t k = 0; k < K; ++k) {
    std::copy(z + r * d, z + r * d + d, E + k * d);
    double total = 0;
    for (std::int64_t i = 0; i < M; ++i) {
      double s = 0;
      for (std::int64_t j = 0; j < d; ++j) {
        const double diff = static_cast<double>(z[i * d + j]) - E[k * d + j];
        s += diff * diff;
      }
      dmin[i] = std::min(dmin[i], s);
      total += dmin[i];
    }
    if (total <= 0) {
      r = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(M)));
      continue;
    }
    double u = rng.uniform() * total;
    r = M - 1;
    for (std::int64_t i = 0; i < M; ++i) {
      u -= dmin[i];
      if (u <= 0 && dmin[i] > 0) {
        r = i;
        break;
      }
    }
  }
  std::vector<std::int32_t> assigned;
  std::vector<double> sums(static_cast<std::size_t>(K * d));
  std::vector<std::int64_t> counts(static_cast<std::size_t>(K));
  for (int it = 0; it < iters; ++it) {
    nearest_codes_on_host(z, E, M, K, d, block, assigned);
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(counts.begin(), counts.end(), 0);
    for (std::int64_t r = 0; r < M; ++r) {
      ++counts[assigned[r]];
      for (std::int64_t j = 0; j < d; ++j) sums[assigned[r] * d + j] += z[r * d + j];
    }
    for (std::int64_t k = 0; k < K; ++k) {
      if (counts[k] == 0) continue;
      double n2 = 0;
      for (std::int64_t j = 0; j < d; ++j) n2 += sums[k * d + j] * sums[k * d + j];
      const double div = cosine ? std::max(std::sqrt(n2), norm_eps) : static_cast<double>(counts[k]);
      for (std::int64_t j = 0; j < d; ++j) E[k * d + j] = static_cast<T>(sums[k * d + j] / div);
    }
  }
}

}  // namespace vae::detail
