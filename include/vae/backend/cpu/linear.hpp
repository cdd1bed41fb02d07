// cpu kernel of the linear op: three GEMMs through Eigen and a column-sum for the bias.
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/gemm.hpp"
#include "vae/core/error.hpp"
#include "vae/ops/linear.hpp"

namespace vae {

template <>
struct kernel<linear_op, cpu> {
  template <class T>
  static void forward(const linear_dims& d, const T* x, const T* w, const T* bias, T* y) {
    forward_then(d, x, w, bias, y, false);
  }
  // y = max(x·wᵀ + bias, 0): a Linear followed by a ReLU in one pass (Sequential fuses the pair on the host).
  template <class T>
  static void forward_relu(const linear_dims& d, const T* x, const T* w, const T* bias, T* y) {
    forward_then(d, x, w, bias, y, true);
  }
  // forward / forward_relu from the weight's inference panels (a store frozen for inference, float with the AVX-512
  // kernel: parameter_store::freeze_for_inference), which the product reads in place.
  template <class T>
  static void forward_from_panels(const linear_dims& d, const T* x, const T* panels, const T* bias, T* y, bool relu) {
#if defined(VAE_AVX512_KERNELS)
    if constexpr (std::is_same_v<T, float>) {
      cpu_detail::gemm_from_panels_bands(d.rows, d.out, d.in, x, d.in, panels, y, d.out, epilogue(d, bias, y, relu));
      return;
    }
#endif
    (void)d, (void)x, (void)panels, (void)bias, (void)y, (void)relu;
    detail::throw_error("linear forward_from_panels: inference panels exist for float with the AVX-512 kernel only");
  }

 private:
  // The bias (and the ReLU) are applied by each thread to the band of y it just computed (still in its cache).
  template <class T>
  static auto epilogue(const linear_dims& d, const T* bias, T* y, bool relu) {
    return [=](std::int64_t r0, std::int64_t r1, std::int64_t c0, std::int64_t c1) {
      if (!bias && !relu) return;
      for (std::int64_t r = r0; r < r1; ++r) {
        T* row = y + r * d.out;
        if (bias)
          for (std::int64_t j = c0; j < c1; ++j) row[j] += bias[j];
        if (relu)
          for (std::int64_t j = c0; j < c1; ++j) row[j] = row[j] > T(0) ? row[j] : T(0);  // activation::ReLU::value
      }
    };
  }
  template <class T>
  static void forward_then(const linear_dims& d, const T* x, const T* w, const T* bias, T* y, bool relu) {
    cpu_detail::gemm_bands<T>(false, true, d.rows, d.out, d.in, T(1), x, d.in, w, d.in, T(0), y, d.out,
                              epilogue(d, bias, y, relu));
  }

 public:

  // dw and dbias are added to, or overwritten where overwrite_dw / overwrite_dbias (beta = 0: the old values are
  // never read).
  template <class T>
  static void backward(const linear_dims& d, const T* x, const T* w, const T* dy, T* dx, T* dw, T* dbias,
                       bool overwrite_dw = false, bool overwrite_dbias = false) {
    const T dw_beta = overwrite_dw ? T(0) : T(1);
    const cpu_detail::gemm_call<T> input_grad{false, false, d.rows, d.in, d.out, T(1), dy, d.out, w, d.in, T(0), dx, d.in};
    const cpu_detail::gemm_call<T> weight_grad{true, false, d.out, d.in, d.rows, T(1), dy, d.out, x, d.in, dw_beta, dw, d.in};
    if (dx && dw && 2 * d.rows * d.in * d.out >= (std::int64_t{1} << 21)) {
      cpu_detail::gemm_pair(input_grad, weight_grad);  // same cost: one product per half of the pool
    } else {
      if (dx) cpu_detail::gemm(input_grad);
      if (dw) cpu_detail::gemm(weight_grad);
    }
    if (dbias) {
      // Column sums in blocks of `bias_block` columns: rows are read contiguously and the inner loop vectorises
      // across columns. Each column still sums r = 0, 1, … into a zero accumulator before adding to dbias, so the
      // result is bit-identical to the column-at-a-time loop.
      constexpr std::int64_t bias_block = 256;
      const std::int64_t blocks = (d.out + bias_block - 1) / bias_block;
      parallel_for(blocks, d.rows * d.out, [&](std::int64_t b) {
        const std::int64_t j0 = b * bias_block, len = std::min(bias_block, d.out - j0);
        T acc[bias_block] = {};
        for (std::int64_t r = 0; r < d.rows; ++r) {
          const T* row = dy + r * d.out + j0;
          for (std::int64_t j = 0; j < len; ++j) acc[j] += row[j];
        }
        if (overwrite_dbias)
          for (std::int64_t j = 0; j < len; ++j) dbias[j0 + j] = acc[j];
        else
          for (std::int64_t j = 0; j < len; ++j) dbias[j0 + j] += acc[j];
      });
    }
  }
};

}  // namespace vae
