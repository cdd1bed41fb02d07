// The one instantiation of the cpu GEMM for the test programs (they build with VAE_EXTERN_GEMM; see gemm.hpp).
#include "vae/backend/cpu/gemm.hpp"

namespace vae::cpu_detail {
template void gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*, std::int64_t,
                          const float*, std::int64_t, float, float*, std::int64_t);
template void gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double, const double*, std::int64_t,
                           const double*, std::int64_t, double, double*, std::int64_t);
template bool avx512::gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*,
                                  std::int64_t, const float*, std::int64_t, float, float*, std::int64_t);
#if defined(VAE_AVX512_KERNELS)
template void avx512::gemm_windows<float>(std::int64_t, std::int64_t, std::int64_t, const avx512::window_rows&,
                                          const float*, std::int64_t, float*, std::int64_t);
template void avx512::gemm_windows_weight<float>(std::int64_t, std::int64_t, std::int64_t, const float*, std::int64_t,
                                                 const avx512::window_rows&, float*, std::int64_t);
#endif
}  // namespace vae::cpu_detail
