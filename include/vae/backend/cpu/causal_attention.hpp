// cpu kernel of the causal attention op: one task per (batch row, head); the products by cpu_detail::gemm_serial (inside
// the task) or, for a KV-cache step's few queries, written out; the masked softmax written out with sums in double.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/gemm.hpp"
#include "vae/ops/causal_attention.hpp"

namespace vae {

template <>
struct kernel<causal_attention_op, cpu> {
  // One head of one batch row: p [Tq, S] = softmax(q·kᵀ·scale) with query i seeing keys 0..S − Tq + i (the rest of
  // its row set to 0), then y = p·v. q, k, v, y are row-major with leading dimensions ldq, ldk, ldv, ldy.
  // A few queries (a KV-cache step) are matrix-vector products: written out below, the dot products in `lanes`
  // independent partial sums so that the compiler vectorises them, where a BLAS gemv call per head costs more.
  static constexpr std::int64_t few_queries = 8;
  static constexpr std::int64_t lanes = 16;

  // Per-thread scratch of at least n values, kept between calls (no allocation per step once it has grown).
  template <class T>
  static T* scratch(std::int64_t n) {
    thread_local std::vector<T> buffer;
    if (static_cast<std::int64_t>(buffer.size()) < n) buffer.resize(static_cast<std::size_t>(n));
    return buffer.data();
  }

  template <class T>
  static T dot(const T* a, const T* b, std::int64_t n) {
    T acc[lanes] = {};
    std::int64_t i = 0;
    for (; i + lanes <= n; i += lanes)
      for (std::int64_t l = 0; l < lanes; ++l) acc[l] += a[i + l] * b[i + l];
    T s = 0;
    for (std::int64_t l = 0; l < lanes; ++l) s += acc[l];
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
  }

  template <class T>
  static void attend(std::int64_t Tq, std::int64_t S, std::int64_t D, const T* q, std::int64_t ldq, const T* k,
                     std::int64_t ldk, const T* v, std::int64_t ldv, T* p, T* y, std::int64_t ldy) {
    const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(D)));
    const bool few = Tq <= few_queries;
    if (few) {
      for (std::int64_t i = 0; i < Tq; ++i)
        for (std::int64_t j = 0, seen = S - Tq + i + 1; j < seen; ++j) p[i * S + j] = scale * dot(q + i * ldq, k + j * ldk, D);
    } else {
      cpu_detail::gemm_serial<T>(false, true, Tq, S, D, scale, q, ldq, k, ldk, T(0), p, S);
    }
    for (std::int64_t i = 0; i < Tq; ++i) {
      T* row = p + i * S;
      const std::int64_t seen = S - Tq + i + 1;
      T m = row[0];
      for (std::int64_t j = 1; j < seen; ++j) m = std::max(m, row[j]);
      double s = 0;
      for (std::int64_t j = 0; j < seen; ++j) {
        row[j] = std::exp(row[j] - m);
        s += static_cast<double>(row[j]);
      }
      const T inv = static_cast<T>(1.0 / s);
      for (std::int64_t j = 0; j < seen; ++j) row[j] *= inv;
      std::fill(row + seen, row + S, T(0));
    }
    if (few) {
      for (std::int64_t i = 0; i < Tq; ++i) {
        T* yi = y + i * ldy;
        std::fill(yi, yi + D, T(0));
        for (std::int64_t j = 0, seen = S - Tq + i + 1; j < seen; ++j) {
          const T pj = p[i * S + j];
          const T* vj = v + j * ldv;
          for (std::int64_t c = 0; c < D; ++c) yi[c] += pj * vj[c];
        }
      }
    } else {
      cpu_detail::gemm_serial<T>(false, false, Tq, D, S, T(1), p, S, v, ldv, T(0), y, ldy);
    }
  }

  template <class T>
  static void forward(const attention_dims& d, const T* qkv, T* y, T* att) {
    const std::int64_t Tn = d.queries, C = d.channels(), D = d.head_dim;
    parallel_for(d.batch * d.heads, d.batch * d.heads * Tn * Tn * D * 4, [&](std::int64_t bh) {
      const std::int64_t b = bh / d.heads, h = bh % d.heads;
      const T* q = qkv + b * Tn * 3 * C + h * D;
      attend(Tn, Tn, D, q, 3 * C, q + C, 3 * C, q + 2 * C, 3 * C, att + bh * Tn * Tn, y + b * Tn * C + h * D, C);
    });
  }

  template <class T>
  static void backward(const attention_dims& d, const T* qkv, const T* att, const T* dy, T* dqkv) {
    const std::int64_t Tn = d.queries, C = d.channels(), D = d.head_dim;
    const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(D)));
    parallel_for(d.batch * d.heads, d.batch * d.heads * Tn * Tn * D * 8, [&](std::int64_t bh) {
      const std::int64_t b = bh / d.heads, h = bh % d.heads;
      const std::int64_t base = b * Tn * 3 * C + h * D;
      const T *q = qkv + base, *k = q + C, *v = q + 2 * C;
      T *dq = dqkv + base, *dk = dq + C, *dv = dq + 2 * C;
      const T* p = att + bh * Tn * Tn;
      const T* g = dy + b * Tn * C + h * D;
      T* ds = scratch<T>(Tn * Tn);
      // dv = pᵀ·dy; dp = dy·vᵀ
      cpu_detail::gemm_serial<T>(true, false, Tn, D, Tn, T(1), p, Tn, g, C, T(0), dv, 3 * C);
      cpu_detail::gemm_serial<T>(false, true, Tn, Tn, D, T(1), g, C, v, 3 * C, T(0), ds, Tn);
      // softmax backward row by row over the visible keys, times the score scale: ds = p ⊙ (dp − Σ dp·p)·scale
      for (std::int64_t i = 0; i < Tn; ++i) {
        T* r = ds + i * Tn;
        const T* pr = p + i * Tn;
        double s = 0;
        for (std::int64_t j = 0; j <= i; ++j) s += static_cast<double>(r[j]) * static_cast<double>(pr[j]);
        const T st = static_cast<T>(s);
        for (std::int64_t j = 0; j <= i; ++j) r[j] = pr[j] * (r[j] - st) * scale;
        std::fill(r + i + 1, r + Tn, T(0));
      }
      // dq = ds·k; dk = dsᵀ·q
      cpu_detail::gemm_serial<T>(false, false, Tn, D, Tn, T(1), ds, Tn, k, 3 * C, T(0), dq, 3 * C);
      cpu_detail::gemm_serial<T>(true, false, Tn, D, Tn, T(1), ds, Tn, q, 3 * C, T(0), dk, 3 * C);
    });
  }

  template <class T>
  static void cached_forward(const attention_dims& d, std::int64_t capacity, const T* qkv, T* k_cache, T* v_cache,
                             T* y) {
    const std::int64_t Tn = d.queries, S = d.keys, C = d.channels(), D = d.head_dim, start = S - Tn;
    parallel_for(d.batch * d.heads, d.batch * d.heads * Tn * S * D * 4, [&](std::int64_t bh) {
      const std::int64_t b = bh / d.heads, h = bh % d.heads;
      const T* q = qkv + b * Tn * 3 * C + h * D;
      T* kc = k_cache + bh * capacity * D;
      T* vc = v_cache + bh * capacity * D;
      for (std::int64_t i = 0; i < Tn; ++i) {
        std::copy(q + i * 3 * C + C, q + i * 3 * C + C + D, kc + (start + i) * D);
        std::copy(q + i * 3 * C + 2 * C, q + i * 3 * C + 2 * C + D, vc + (start + i) * D);
      }
      attend(Tn, S, D, q, 3 * C, kc, D, vc, D, scratch<T>(Tn * S), y + b * Tn * C + h * D, C);
    });
  }
};

}  // namespace vae
