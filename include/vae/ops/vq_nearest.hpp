// Nearest-code search op: squared distances ‖z‖² − 2 z·Eᵀ + ‖E‖² of rows to codes (one GEMM) and each row's argmin.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"

namespace vae {

struct vq_nearest_op {};

// Sizes of one search: `rows` rows z [rows, dim] against `codes` codes E [codes, dim] (codes ≤ int32 max).
struct vq_nearest_dims {
  std::int64_t rows, codes, dim;
};

namespace ops {
// code_norms[k] = Σ_j E[k, j]², summed in j order in T (d.rows is not used).
template <class B, class T>
void vq_code_norms(const vq_nearest_dims& d, const T* codes, T* code_norms) {
  kernel<vq_nearest_op, B>::code_norms(d, codes, code_norms);
}
// dist[r, k] = (‖z_r‖² + (−2·z_r·E_k)) + code_norms[k] (WRITTEN, [rows, codes]; the products come from one GEMM) and
// idx[r] = the lowest k whose dist[r, k] is the minimum of the row's non-NaN distances (argmin's tie rule, like
// torch.argmin); a row whose distances are all NaN gets codes − 1. code_norms comes from vq_code_norms.
template <class B, class T>
void vq_nearest(const vq_nearest_dims& d, const T* z, const T* codes, const T* code_norms, T* dist,
                std::int32_t* idx) {
  kernel<vq_nearest_op, B>::nearest(d, z, codes, code_norms, dist, idx);
}
}  // namespace ops
}  // namespace vae

#include "vae/backend/cpu/vq_nearest.hpp"
#if defined(__CUDACC__) && defined(VAE_WITH_CUDA)
#include "vae/backend/cuda/vq_nearest.cuh"
#endif
