// Inference panels: a [N,K] weight laid out as the broadcast GEMM kernel's K × 32 panels of its transpose, made once.
#pragma once
#include <algorithm>
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/avx512_gemm.hpp"

namespace vae::cpu_detail {

// Panel p holds columns 32p … 32p + 31 of Wᵀ (rows 32p … of W), K rows of 32 floats each, contiguous:
// panels[p·K·32 + k·32 + jj] = W[(32p + jj)·K + k], zero where 32p + jj ≥ N. A frozen store keeps its Linear weights
// this way, so that an inference product reads each 16 KiB block of op(B) from one contiguous run instead of
// transposing the weight on every call or reading K rows a power of two apart (which fall into a few L1 sets).
inline constexpr std::int64_t weight_panel_width = 32;

// Floats of the panels of an [n, k] weight (n rounded up to whole panels).
constexpr std::int64_t weight_panel_floats(std::int64_t n, std::int64_t k) {
  return (n + weight_panel_width - 1) / weight_panel_width * weight_panel_width * k;
}

#if defined(VAE_AVX512_KERNELS)
// Writes the panels of w [n, k] (row-major) to `panels` (64-byte aligned, weight_panel_floats(n, k) floats),
// a panel per parallel task.
inline void pack_weight_panels(const float* w, std::int64_t n, std::int64_t k, float* panels) {
  const std::int64_t count = (n + weight_panel_width - 1) / weight_panel_width;
  parallel_for(count, n * k, [&](std::int64_t p) {
    const std::int64_t j = p * weight_panel_width;
    avx512::pack_transposed(w + j * k, k, std::min(weight_panel_width, n - j), k, panels + j * k);
  });
}
#endif

}  // namespace vae::cpu_detail
