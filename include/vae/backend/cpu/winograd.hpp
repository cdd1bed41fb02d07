// Winograd transforms over channels-last images: F(2×2, 3×3) for 3×3 stride-1 convs, F(2×2, 2×2) for 4×4 stride-2.
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "vae/backend/cpu.hpp"
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace vae::cpu_detail::winograd {

// Why: a 3×3 convolution computes each 2×2 block of outputs from a 4×4 patch of input with 36 multiplies per
// (input, output) channel pair directly, 16 in the Winograd domain (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016). With V = Bᵀ d B (input patch), U = G g Gᵀ (kernel) and Y = Aᵀ (U ⊙ V) A,
// the sum over input channels is, for each position ξ of the α×α domain, one matrix product
// M[ξ] (tiles × out) = V[ξ] (tiles × in) · U[ξ] (in × out). Backward uses the adjoints of the same maps:
// dM = A dY Aᵀ, dU[ξ] = V[ξ]ᵀ dM[ξ], dV[ξ] = dM[ξ] U[ξ]ᵀ, dx = Σ over patches of B dV Bᵀ, dw = Gᵀ dU G — the exact
// gradients of this forward, which equals the convolution in exact arithmetic.
// A 4×4 stride-2 kernel splits by the parity of its taps into four 2×2 kernels, each sliding with stride 1 over one
// phase of the padded input (its rows 2u + py, columns 2v + px): a 2×2 convolution of a 4·c-channel image, done
// with F(2×2, 2×2) (9 instead of 16 multiplies per 2×2 outputs; the four phases are the "channels" of one product).

// Runs body(ch, load, store) over channels [0, c): for float with AVX-512, 16 channels at a time (load/store move a
// masked __m512), with AVX2 8 at a time (__m256, masked on the last few), else one at a time (T). The transforms'
// arithmetic is written once for every value type.
template <class T, class Body>
inline void over_channels(std::int64_t c, Body&& body) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    for (std::int64_t ch = 0; ch < c; ch += 16) {
      const __mmask16 m = c - ch >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (c - ch)) - 1);
      body(ch, [m](const float* p) { return _mm512_maskz_loadu_ps(m, p); },
           [m](float* p, __m512 v) { _mm512_mask_storeu_ps(p, m, v); });
    }
    return;
  }
#elif defined(__AVX2__)
  if constexpr (std::is_same_v<T, float>) {
    std::int64_t ch = 0;
    for (; ch + 8 <= c; ch += 8)
      body(ch, [](const float* p) { return _mm256_loadu_ps(p); }, [](float* p, __m256 v) { _mm256_storeu_ps(p, v); });
    if (ch < c) {
      const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(c - ch)),
                                           _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
      body(ch, [m](const float* p) { return _mm256_maskload_ps(p, m); },
           [m](float* p, __m256 v) { _mm256_maskstore_ps(p, m, v); });
    }
    return;
  }
#endif
  for (std::int64_t ch = 0; ch < c; ++ch) body(ch, [](const T* p) { return *p; }, [](T* p, T v) { *p = v; });
}
// v > 0 ? v : 0 (NaN → 0, as the ReLU layer computes it).
template <class T>
inline T relu(T v) {
  return v > T(0) ? v : T(0);
}
#if defined(__AVX512F__)
inline __m512 relu(__m512 v) { return _mm512_max_ps(v, _mm512_setzero_ps()); }  // max(NaN, 0) = 0
#elif defined(__AVX2__)
inline __m256 relu(__m256 v) { return _mm256_max_ps(v, _mm256_setzero_ps()); }  // max(NaN, 0) = 0
#endif

// F(2, 3) on α = 4 points (0, 1, −1, ∞): Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1], G = [1 0 0; ½ ½ ½; ½ −½ ½;
// 0 0 1], Aᵀ = [1 1 1 0; 0 1 −1 −1]. Each map is 1-D (applied along rows, then columns), on scalars or vectors.
struct f2x3 {
  static constexpr int r = 3, alpha = 4;
  template <class V>
  static void input(const V* d, V* v) {  // Bᵀ d
    v[0] = d[0] - d[2];
    v[1] = d[1] + d[2];
    v[2] = d[2] - d[1];
    v[3] = d[1] - d[3];
  }
  template <class V>
  static void input_adjoint(const V* v, V* d) {  // B v
    d[0] = v[0];
    d[1] = v[1] - v[2] + v[3];
    d[2] = v[1] + v[2] - v[0];
    d[3] = -v[3];
  }
  template <class V>
  static void output(const V* m, V* y) {  // Aᵀ m
    y[0] = m[0] + m[1] + m[2];
    y[1] = m[1] - m[2] - m[3];
  }
  template <class V>
  static void output_adjoint(const V* y, V* m) {  // A y
    m[0] = y[0];
    m[1] = y[0] + y[1];
    m[2] = y[0] - y[1];
    m[3] = -y[1];
  }
  template <class T>
  static void kernel(const T* g, T* u) {  // G g
    u[0] = g[0];
    u[1] = T(0.5) * (g[0] + g[1] + g[2]);
    u[2] = T(0.5) * (g[0] - g[1] + g[2]);
    u[3] = g[2];
  }
  template <class T>
  static void kernel_adjoint(const T* u, T* g) {  // Gᵀ u
    g[0] = u[0] + T(0.5) * (u[1] + u[2]);
    g[1] = T(0.5) * (u[1] - u[2]);
    g[2] = T(0.5) * (u[1] + u[2]) + u[3];
  }
};

// F(2, 2) on α = 3 points (0, 1, −1): Bᵀ = [1 0 −1; 0 1 1; 0 −1 1], G = [1 0; ½ ½; ½ −½], Aᵀ = [1 1 1; 0 1 −1].
struct f2x2 {
  static constexpr int r = 2, alpha = 3;
  template <class V>
  static void input(const V* d, V* v) {
    v[0] = d[0] - d[2];
    v[1] = d[1] + d[2];
    v[2] = d[2] - d[1];
  }
  template <class V>
  static void input_adjoint(const V* v, V* d) {
    d[0] = v[0];
    d[1] = v[1] - v[2];
    d[2] = v[1] + v[2] - v[0];
  }
  template <class V>
  static void output(const V* m, V* y) {
    y[0] = m[0] + m[1] + m[2];
    y[1] = m[1] - m[2];
  }
  template <class V>
  static void output_adjoint(const V* y, V* m) {
    m[0] = y[0];
    m[1] = y[0] + y[1];
    m[2] = y[0] - y[1];
  }
  template <class T>
  static void kernel(const T* g, T* u) {
    u[0] = g[0];
    u[1] = T(0.5) * (g[0] + g[1]);
    u[2] = T(0.5) * (g[0] - g[1]);
  }
  template <class T>
  static void kernel_adjoint(const T* u, T* g) {
    g[0] = u[0] + T(0.5) * (u[1] + u[2]);
    g[1] = T(0.5) * (u[1] - u[2]);
  }
};

// b (Out×Out) = f along the columns of a (In×In), then along the rows: a 1-D map applied in both dimensions.
template <int In, int Out, class V, class F>
inline void separable(const V (&a)[In][In], V (&b)[Out][Out], F f) {
  V rows[Out][In];
  for (int s = 0; s < In; ++s) {
    V col[In], o[Out];
    for (int r = 0; r < In; ++r) col[r] = a[r][s];
    f(col, o);
    for (int r = 0; r < Out; ++r) rows[r][s] = o[r];
  }
  for (int r = 0; r < Out; ++r) f(rows[r], b[r]);
}

// Where a convolution's tiles read and write. Tile (ty, tx) makes the 2×2 outputs at rows 2ty, 2ty + 1 and columns
// 2tx, 2tx + 1 of [out_h, out_w] (those off the image are dropped). Its patch entry (r, s) of phase (py, px) reads
// input row stride·(2ty + r) + py − 1 and column stride·(2tx + s) + px − 1 of [in_h, in_w] (padding 1 around it):
// stride 1 has one phase (F(2×2, 3×3)), stride 2 four (F(2×2, 2×2) over each of a 4×4 kernel's tap parities).
struct geometry {
  std::int64_t in_h, in_w, out_h, out_w, th, tw;
  int stride;
  std::int64_t per_image() const { return th * tw; }
  int phases() const { return stride * stride; }
};
inline geometry geometry_of(std::int64_t in_h, std::int64_t in_w, std::int64_t out_h, std::int64_t out_w, int stride) {
  return {in_h, in_w, out_h, out_w, (out_h + 1) / 2, (out_w + 1) / 2, stride};
}
// The spec for a stride: F(2×2, 3×3) for 1, F(2×2, 2×2) for 2.
template <class Body>
inline void with_spec(int stride, Body&& body) {
  if (stride == 1) body(f2x3{});
  else body(f2x2{});
}

// p[(phase·α + r)·α + s] = the start of patch entry (r, s) of `phase` of tile (ty, tx) in image [in_h, in_w, c], or
// null off the image.
template <class Spec, class P>
inline void patch_pointers(const geometry& g, std::int64_t c, P image, std::int64_t ty, std::int64_t tx, P* p) {
  constexpr int a = Spec::alpha;
  for (int ph = 0; ph < g.phases(); ++ph)
    for (int r = 0; r < a; ++r)
      for (int s = 0; s < a; ++s) {
        const std::int64_t y = g.stride * (2 * ty + r) + ph / g.stride - 1;
        const std::int64_t x = g.stride * (2 * tx + s) + ph % g.stride - 1;
        p[(ph * a + r) * a + s] = y >= 0 && y < g.in_h && x >= 0 && x < g.in_w ? image + (y * g.in_w + x) * c : nullptr;
      }
}
// p[r·2 + s] = the start of output (2ty + r, 2tx + s) in image [out_h, out_w, c], or null off the image.
template <class P>
inline void block_pointers(const geometry& g, std::int64_t c, P image, std::int64_t ty, std::int64_t tx, P p[4]) {
  for (int r = 0; r < 2; ++r)
    for (int s = 0; s < 2; ++s) {
      const std::int64_t y = 2 * ty + r, x = 2 * tx + s;
      p[r * 2 + s] = y < g.out_h && x < g.out_w ? image + (y * g.out_w + x) * c : nullptr;
    }
}

// U_io[ξ][k][o] = (G w_k,o Gᵀ)[ξ] with k = phase·in + i and w_k,o the r×r kernel of output o, input i, phase (py, px):
// taps (stride·a + py, stride·b + px) of w [out, in, k_h, k_w] (PyTorch order). When u_oi is not null, the same
// values as u_oi[ξ][o][k] (the layout the input gradient's products read).
template <class Spec, class T>
void transform_weight(const geometry& g, std::int64_t out, std::int64_t in, const T* w, T* u_io, T* u_oi = nullptr) {
  constexpr int a = Spec::alpha, rr = Spec::r;
  const std::int64_t k_side = g.stride == 1 ? 3 : 4, K = g.phases() * in, plane = K * out;
  // Threads split the input channels; each writes runs of consecutive o (the layout's fastest index).
  parallel_for(in, out * in * k_side * k_side * 8, [&](std::int64_t i) {
    for (std::int64_t o = 0; o < out; ++o)
      for (int ph = 0; ph < g.phases(); ++ph) {
        T gk[rr][rr], u[a][a];
        for (int r = 0; r < rr; ++r)
          for (int s = 0; s < rr; ++s)
            gk[r][s] = w[(o * in + i) * k_side * k_side + (g.stride * r + ph / g.stride) * k_side + g.stride * s +
                         ph % g.stride];
        separable(gk, u, [](const T* x, T* y) { Spec::kernel(x, y); });
        const std::int64_t k = ph * in + i;
        for (int x = 0; x < a * a; ++x) {
          u_io[x * plane + k * out + o] = u[x / a][x % a];
          if (u_oi) u_oi[x * plane + o * K + k] = u[x / a][x % a];
        }
      }
  });
}
// dw[o, i, taps of each phase] += Gᵀ du G with du[ξ] = Σ_t partial_t[ξ][phase·in + i][o] over `tasks` buffers,
// summed in task order.
template <class Spec, class T>
void add_weight_gradient(const geometry& g, std::int64_t out, std::int64_t in, const T* partial, std::int64_t tasks,
                         T* dw) {
  constexpr int a = Spec::alpha, rr = Spec::r;
  const std::int64_t k_side = g.stride == 1 ? 3 : 4, K = g.phases() * in, plane = K * out, size = a * a * plane;
  parallel_for(in, out * in * k_side * k_side * 8 * tasks, [&](std::int64_t i) {
    for (std::int64_t o = 0; o < out; ++o)
      for (int ph = 0; ph < g.phases(); ++ph) {
        T du[a][a], gk[rr][rr];
        const std::int64_t k = ph * in + i;
        for (int x = 0; x < a * a; ++x) {
          T s = 0;
          for (std::int64_t t = 0; t < tasks; ++t) s += partial[t * size + x * plane + k * out + o];
          du[x / a][x % a] = s;
        }
        separable(du, gk, [](const T* x, T* y) { Spec::kernel_adjoint(x, y); });
        for (int r = 0; r < rr; ++r)
          for (int s = 0; s < rr; ++s)
            dw[(o * in + i) * k_side * k_side + (g.stride * r + ph / g.stride) * k_side + g.stride * s +
               ph % g.stride] += gk[r][s];
      }
  });
}

// V[ξ][t][phase·c + ch] = (Bᵀ d B)[ξ] for the patch d of `phase` of tile t (counted over images, then tile rows and
// columns) of x [images, in_h, in_w, c]. zeros: c zeros (the padding).
template <class Spec, class T>
void transform_input(const geometry& g, std::int64_t images, std::int64_t c, const T* x, const T* zeros, T* V) {
  constexpr int a = Spec::alpha;
  const std::int64_t K = g.phases() * c, tiles = images * g.per_image(), plane = tiles * K;
  std::int64_t t = 0;
  for (std::int64_t b = 0; b < images; ++b)
    for (std::int64_t ty = 0; ty < g.th; ++ty)
      for (std::int64_t tx = 0; tx < g.tw; ++tx, ++t) {
        const T* p[4 * a * a];
        patch_pointers<Spec>(g, c, x + b * g.in_h * g.in_w * c, ty, tx, p);
        for (auto& q : p)
          if (!q) q = zeros;
        for (int ph = 0; ph < g.phases(); ++ph) {
          const T* const* pp = p + ph * a * a;
          T* v = V + t * K + ph * c;
          over_channels<T>(c, [&](std::int64_t ch, auto load, auto store) {
            using L = decltype(load(x));
            L d[a][a], o[a][a];
            for (int r = 0; r < a; ++r)
              for (int s = 0; s < a; ++s) d[r][s] = load(pp[r * a + s] + ch);
            separable(d, o, [](const L* u, L* w) { Spec::input(u, w); });
            for (int r = 0; r < a; ++r)
              for (int s = 0; s < a; ++s) store(v + (r * a + s) * plane + ch, o[r][s]);
          });
        }
      }
}

// y = Aᵀ M A (+ bias, then ReLU when `relu_out`, then + residual) for every tile of images [images, out_h, out_w, c],
// M [α², tiles, c]; outputs off the image go to `spill` (4·c values, a run per block position). bias/residual may be
// null; zeros: c zeros.
template <class Spec, class T>
void transform_output(const geometry& g, std::int64_t images, std::int64_t c, const T* M, const T* bias,
                      bool relu_out, const T* residual, const T* zeros, T* spill, T* y) {
  constexpr int a = Spec::alpha;
  const std::int64_t tiles = images * g.per_image(), plane = tiles * c, img = g.out_h * g.out_w * c;
  const T* bb = bias ? bias : zeros;
  std::int64_t t = 0;
  for (std::int64_t b = 0; b < images; ++b)
    for (std::int64_t ty = 0; ty < g.th; ++ty)
      for (std::int64_t tx = 0; tx < g.tw; ++tx, ++t) {
        T* out[4];
        const T* res[4] = {zeros, zeros, zeros, zeros};
        block_pointers(g, c, y + b * img, ty, tx, out);
        for (int k = 0; k < 4; ++k)
          if (!out[k]) out[k] = spill + k * c;
        if (residual) {
          block_pointers(g, c, residual + b * img, ty, tx, res);
          for (auto& q : res)
            if (!q) q = zeros;
        }
        const T* m = M + t * c;
        over_channels<T>(c, [&](std::int64_t ch, auto load, auto store) {
          using L = decltype(load(m));
          L d[a][a], o[2][2];
          for (int r = 0; r < a; ++r)
            for (int s = 0; s < a; ++s) d[r][s] = load(m + (r * a + s) * plane + ch);
          separable(d, o, [](const L* u, L* w) { Spec::output(u, w); });
          const L bv = load(bb + ch);
          for (int k = 0; k < 4; ++k) {
            L v = o[k / 2][k % 2] + bv;
            if (relu_out) v = relu(v);
            store(out[k] + ch, load(res[k] + ch) + v);
          }
        });
      }
}

// dM[ξ][t][ch] = (A dY Aᵀ)[ξ] for the 2×2 block dY of tile t of dy [images, out_h, out_w, c] (0 off the image).
template <class Spec, class T>
void transform_output_adjoint(const geometry& g, std::int64_t images, std::int64_t c, const T* dy, const T* zeros,
                              T* dM) {
  constexpr int a = Spec::alpha;
  const std::int64_t tiles = images * g.per_image(), plane = tiles * c;
  std::int64_t t = 0;
  for (std::int64_t b = 0; b < images; ++b)
    for (std::int64_t ty = 0; ty < g.th; ++ty)
      for (std::int64_t tx = 0; tx < g.tw; ++tx, ++t) {
        const T* p[4];
        block_pointers(g, c, dy + b * g.out_h * g.out_w * c, ty, tx, p);
        for (auto& q : p)
          if (!q) q = zeros;
        T* m = dM + t * c;
        over_channels<T>(c, [&](std::int64_t ch, auto load, auto store) {
          using L = decltype(load(dy));
          L d[2][2], o[a][a];
          for (int k = 0; k < 4; ++k) d[k / 2][k % 2] = load(p[k] + ch);
          separable(d, o, [](const L* u, L* w) { Spec::output_adjoint(u, w); });
          for (int r = 0; r < a; ++r)
            for (int s = 0; s < a; ++s) store(m + (r * a + s) * plane + ch, o[r][s]);
        });
      }
}

// dx [images, in_h, in_w, c] = Σ over the patch entries that read each element of (B dV Bᵀ), dV [α², tiles,
// phases·c] (dx is overwritten; tiles are added in order, so the sums are reproducible). spill: 4·α²·c values that
// take the entries off the image (one run per entry, so that no two of a tile's destinations overlap).
template <class Spec, class T>
void transform_input_adjoint(const geometry& g, std::int64_t images, std::int64_t c, const T* dV, T* spill, T* dx) {
  constexpr int a = Spec::alpha;
  const std::int64_t K = g.phases() * c, tiles = images * g.per_image(), plane = tiles * K;
  std::fill(dx, dx + images * g.in_h * g.in_w * c, T(0));
  std::int64_t t = 0;
  for (std::int64_t b = 0; b < images; ++b)
    for (std::int64_t ty = 0; ty < g.th; ++ty)
      for (std::int64_t tx = 0; tx < g.tw; ++tx, ++t) {
        T* p[4 * a * a];
        patch_pointers<Spec>(g, c, dx + b * g.in_h * g.in_w * c, ty, tx, p);
        for (int k = 0; k < g.phases() * a * a; ++k)
          if (!p[k]) p[k] = spill + k * c;
        for (int ph = 0; ph < g.phases(); ++ph) {
          T* const* pp = p + ph * a * a;
          const T* v = dV + t * K + ph * c;
          over_channels<T>(c, [&](std::int64_t ch, auto load, auto store) {
            using L = decltype(load(dV));
            L d[a][a], o[a][a];
            for (int r = 0; r < a; ++r)
              for (int s = 0; s < a; ++s) d[r][s] = load(v + (r * a + s) * plane + ch);
            separable(d, o, [](const L* u, L* w) { Spec::input_adjoint(u, w); });
            for (int r = 0; r < a; ++r)
              for (int s = 0; s < a; ++s) store(pp[r * a + s] + ch, load(pp[r * a + s] + ch) + o[r][s]);
          });
        }
      }
}

}  // namespace vae::cpu_detail::winograd
