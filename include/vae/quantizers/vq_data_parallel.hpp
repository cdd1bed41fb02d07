// The data-parallel steps of the nearest-code quantizers: every rank's rows taken as one global batch.
#pragma once
#include <concepts>
#include <cstdint>
#include <vector>

#include "vae/core/error.hpp"
#include "vae/dist/communicator.hpp"

namespace vae::detail {

// The global batch's row count (every rank must hold the same number of rows: the shares are equal).
inline std::int64_t global_rows(dist::collective& comm, std::int64_t M) {
  std::int64_t total = M;
  comm.allreduce_sum(&total, 1);
  check(total == M * comm.size(), [&] {
    return cat("VectorQuantizer (data-parallel): every rank needs the same number of rows; this rank (",
               comm.describe(), ") has ", M, ", all ranks together ", total);
  });
  return total;
}

// z ← every rank's rows z in rank order (`total` values in all), for the k-means initialisation.
template <class T>
void gather_rows(dist::collective& comm, std::vector<T>& z, std::int64_t total) {
  if constexpr (std::same_as<T, float>) {
    std::vector<T> all(static_cast<std::size_t>(total));
    comm.allgather(z.data(), z.size(), all.data());
    z.swap(all);
  } else {
    vae::detail::throw_error("VectorQuantizer: data-parallel k-means gathers float rows only");
  }
}

// The cpu kernel's EMA update (ops/vq_terms.hpp, same order and precision) with n_k (counts, already global) and the
// row sums Σ_{r→k} z_r summed over ranks in double before they are used. The kernel fuses the sums with the update,
// hence the loop here. count [K], sum [K, d] and codebook [K, d] are updated in place.
template <class T>
void shared_ema_update(dist::collective& comm, std::int64_t M, std::int64_t K, std::int64_t d, double lambda,
                       double eps, const T* z, const std::int32_t* idx, const std::int64_t* counts, T* count, T* sum,
                       T* codebook) {
  std::vector<double> sums(static_cast<std::size_t>(K * d), 0.0);
  for (std::int64_t r = 0; r < M; ++r)
    for (std::int64_t j = 0; j < d; ++j) sums[idx[r] * d + j] += z[r * d + j];
  comm.allreduce_sum(sums.data(), sums.size());
  double n = 0;
  for (std::int64_t k = 0; k < K; ++k) {
    count[k] = static_cast<T>(lambda * count[k] + (1 - lambda) * counts[k]);
    n += count[k];
  }
  for (std::int64_t k = 0; k < K; ++k) {
    const double smoothed = (count[k] + eps) / (n + K * eps) * n;
    for (std::int64_t j = 0; j < d; ++j) {
      T& s = sum[k * d + j];
      s = static_cast<T>(lambda * s + (1 - lambda) * sums[k * d + j]);
      codebook[k * d + j] = static_cast<T>(s / smoothed);
    }
  }
}

// row ← the owner rank's row (a dead-code restart's global row lives on one rank).
template <class T>
void broadcast_row(dist::collective& comm, std::vector<T>& row, int owner) {
  if constexpr (std::same_as<T, float> || std::same_as<T, double>) comm.broadcast(row.data(), row.size(), owner);
  else vae::detail::throw_error("VectorQuantizer: data-parallel restarts broadcast float or double rows only");
}

}  // namespace vae::detail
