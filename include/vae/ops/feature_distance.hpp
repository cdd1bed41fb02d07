// LPIPS's distance between two feature maps at each position: channel-normalised, squared difference, weighted sum.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"

namespace vae {

struct feature_distance_op {};

// n images of c channels × hw positions (NCHW); eps as LPIPS's normalize_tensor (1e-10, added to the norm).
struct feature_distance_dims {
  std::int64_t n, c, hw;
  double eps = 1e-10;
};

namespace ops {
// For each image b and position p, with u = f / (‖f‖ + eps) over the channels (LPIPS normalize_tensor):
//   dist[b·hw + p] = Σ_c w_c (u0_c − u1_c)²        (w null: the plain channel mean, w_c = 1/c)
// and, when df1 is not null, df1 = scale · ∂dist/∂f1 (written; f0 gets no gradient: it is the real image's):
//   ∂dist/∂u1_c = −2 w_c (u0_c − u1_c),  ∂dist/∂f1_k = (g_k − f1_k ⟨g, f1⟩ / (s (s + eps))) / (s + eps),  s = ‖f1‖,
// whose second term is zero at s = 0 (f1 = 0 there; the exact derivative, where autograd's sqrt gives NaN).
template <class B, class T>
void feature_distance(const feature_distance_dims& d, const T* f0, const T* f1, const T* w, T* dist, T* df1,
                      double scale) {
  kernel<feature_distance_op, B>::run(d, f0, f1, w, dist, df1, scale);
}
}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/feature_distance.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/feature_distance.cuh"
#endif
