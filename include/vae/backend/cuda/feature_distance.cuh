// cuda kernel of the LPIPS feature distance: one thread per (image, position), looping over the channels.
#pragma once
#include <cstdint>

#include "vae/backend/cuda.hpp"
#include "vae/ops/feature_distance.hpp"

namespace vae {

namespace cuda_detail {

// The cpu kernel's arithmetic per position, channels in the same order (it accumulates in T as the cpu does).
template <class T>
__global__ void feature_distance_kernel(feature_distance_dims d, const T* f0, const T* f1, const T* w, T* dist,
                                        T* df1, T scale) {
  const std::int64_t t = thread_index();
  if (t >= d.n * d.hw) return;
  const std::int64_t b = t / d.hw, p = t % d.hw, hw = d.hw;
  const T* a = f0 + b * d.c * hw + p;
  const T* x = f1 + b * d.c * hw + p;
  const T eps = static_cast<T>(d.eps);
  T s0 = 0, s1 = 0;
  for (std::int64_t k = 0; k < d.c; ++k) {
    s0 += a[k * hw] * a[k * hw];
    s1 += x[k * hw] * x[k * hw];
  }
  const T norm1 = sqrt(s1);
  s0 = sqrt(s0) + eps;
  s1 = norm1 + eps;
  const T mean_weight = T(1) / static_cast<T>(d.c);
  T acc = 0;
  for (std::int64_t k = 0; k < d.c; ++k) {
    const T diff = a[k * hw] / s0 - x[k * hw] / s1;
    acc += (w ? w[k] : mean_weight) * diff * diff;
  }
  dist[t] = acc;
  if (!df1) return;
  T* g = df1 + b * d.c * hw + p;
  T dot = 0;
  for (std::int64_t k = 0; k < d.c; ++k) {
    const T gk = T(-2) * scale * (w ? w[k] : mean_weight) * (a[k * hw] / s0 - x[k * hw] / s1);
    g[k * hw] = gk;
    dot += gk * x[k * hw];
  }
  dot = norm1 > T(0) ? dot / (norm1 * s1) : T(0);
  for (std::int64_t k = 0; k < d.c; ++k) g[k * hw] = (g[k * hw] - x[k * hw] * dot) / s1;
}

}  // namespace cuda_detail

template <>
struct kernel<feature_distance_op, cuda> {
  template <class T>
  static void run(const feature_distance_dims& d, const T* f0, const T* f1, const T* w, T* dist, T* df1,
                  double scale) {
    const std::int64_t n = d.n * d.hw;
    if (n <= 0) return;
    cuda_detail::feature_distance_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                           cuda_detail::stream()>>>(d, f0, f1, w, dist, df1, static_cast<T>(scale));
    cuda_detail::check_launch("vae::cuda feature_distance");
  }
};

}  // namespace vae
