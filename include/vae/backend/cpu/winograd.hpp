// Winograd F(2×2, 3×3) transforms for 3×3, stride-1, padding-1 convolutions over channels-last images.
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace vae::cpu_detail::winograd {

// Why: a 3×3 convolution computes each 2×2 block of outputs from a 4×4 patch of input with 36 multiplies per
// (input, output) channel pair directly, 16 in the Winograd domain (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016). With V = Bᵀ d B (input patch), U = G g Gᵀ (kernel) and Y = Aᵀ (U ⊙ V) A,
// the sum over input channels is, for each of the 16 positions ξ of the 4×4 domain, one matrix product
// M[ξ] (tiles × out) = V[ξ] (tiles × in) · U[ξ] (in × out). Backward uses the adjoints of the same maps:
// dM = A dY Aᵀ, dU[ξ] = V[ξ]ᵀ dM[ξ], dV[ξ] = dM[ξ] U[ξ]ᵀ, dx = Σ over patches of B dV Bᵀ, dw = Gᵀ dU G — the exact
// gradients of this forward, which equals the convolution in exact arithmetic.
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],  Aᵀ = [1 1 1 0; 0 1 −1 −1].
inline constexpr std::int64_t positions = 16;  // the 4×4 Winograd domain

// Tiles of 2×2 outputs over an h×w image, row-major; with an odd side the last tile row/column is half outside.
struct tiling {
  std::int64_t h, w, th, tw;
  std::int64_t per_image() const { return th * tw; }
};
inline tiling tiles_of(std::int64_t h, std::int64_t w) { return {h, w, (h + 1) / 2, (w + 1) / 2}; }

// Runs body(ch, load, store) over channels [0, c): for float with AVX-512, 16 channels at a time (load/store move a
// masked __m512), else one at a time (T). The transforms' arithmetic is written once for both value types.
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
#endif

// The four 1-D maps (each applied along rows, then columns), on scalars or vectors of channels.
template <class V>
inline void input_1d(const V d[4], V v[4]) {  // Bᵀ d
  v[0] = d[0] - d[2];
  v[1] = d[1] + d[2];
  v[2] = d[2] - d[1];
  v[3] = d[1] - d[3];
}
template <class V>
inline void input_adjoint_1d(const V v[4], V d[4]) {  // B v
  d[0] = v[0];
  d[1] = v[1] - v[2] + v[3];
  d[2] = v[1] + v[2] - v[0];
  d[3] = -v[3];
}
template <class V>
inline void output_1d(const V m[4], V y[2]) {  // Aᵀ m
  y[0] = m[0] + m[1] + m[2];
  y[1] = m[1] - m[2] - m[3];
}
template <class V>
inline void output_adjoint_1d(const V y[2], V m[4]) {  // A y
  m[0] = y[0];
  m[1] = y[0] + y[1];
  m[2] = y[0] - y[1];
  m[3] = -y[1];
}

// u (4×4) = G g Gᵀ for one 3×3 kernel g (row-major).
template <class T>
inline void kernel_transform(const T g[9], T u[16]) {
  T t[4][3];
  for (int c = 0; c < 3; ++c) {
    t[0][c] = g[c];
    t[1][c] = T(0.5) * (g[c] + g[3 + c] + g[6 + c]);
    t[2][c] = T(0.5) * (g[c] - g[3 + c] + g[6 + c]);
    t[3][c] = g[6 + c];
  }
  for (int r = 0; r < 4; ++r) {
    u[r * 4 + 0] = t[r][0];
    u[r * 4 + 1] = T(0.5) * (t[r][0] + t[r][1] + t[r][2]);
    u[r * 4 + 2] = T(0.5) * (t[r][0] - t[r][1] + t[r][2]);
    u[r * 4 + 3] = t[r][2];
  }
}
// g (3×3) = Gᵀ u G: the adjoint of kernel_transform (a kernel gradient from its Winograd-domain gradient).
template <class T>
inline void kernel_adjoint(const T u[16], T g[9]) {
  T t[3][4];
  for (int c = 0; c < 4; ++c) {
    t[0][c] = u[c] + T(0.5) * (u[4 + c] + u[8 + c]);
    t[1][c] = T(0.5) * (u[4 + c] - u[8 + c]);
    t[2][c] = T(0.5) * (u[4 + c] + u[8 + c]) + u[12 + c];
  }
  for (int r = 0; r < 3; ++r) {
    g[r * 3 + 0] = t[r][0] + T(0.5) * (t[r][1] + t[r][2]);
    g[r * 3 + 1] = T(0.5) * (t[r][1] - t[r][2]);
    g[r * 3 + 2] = T(0.5) * (t[r][1] + t[r][2]) + t[r][3];
  }
}

// u_io[ξ·in·out + i·out + o] = (G w[o, i] Gᵀ)[ξ] for w [out, in, 3, 3] (PyTorch order); and, when u_oi is not null,
// the same values as u_oi[ξ·out·in + o·in + i] (the layout the input gradient's products read).
template <class T>
void transform_weight(std::int64_t out, std::int64_t in, const T* w, T* u_io, T* u_oi = nullptr) {
  const std::int64_t plane = in * out;
  for (std::int64_t o = 0; o < out; ++o)
    for (std::int64_t i = 0; i < in; ++i) {
      T u[16];
      kernel_transform(w + (o * in + i) * 9, u);
      for (std::int64_t x = 0; x < positions; ++x) {
        u_io[x * plane + i * out + o] = u[x];
        if (u_oi) u_oi[x * plane + o * in + i] = u[x];
      }
    }
}
// dw[o, i, :, :] += Gᵀ du Gᵀᵀ with du[ξ] = Σ_t partial_t[ξ·in·out + i·out + o] over `tasks` buffers, summed in task
// order.
template <class T>
void add_weight_gradient(std::int64_t out, std::int64_t in, const T* partial, std::int64_t tasks, T* dw) {
  const std::int64_t plane = in * out, size = positions * plane;
  for (std::int64_t o = 0; o < out; ++o)
    for (std::int64_t i = 0; i < in; ++i) {
      T du[16], g[9];
      for (std::int64_t x = 0; x < positions; ++x) {
        T s = 0;
        for (std::int64_t t = 0; t < tasks; ++t) s += partial[t * size + x * plane + i * out + o];
        du[x] = s;
      }
      kernel_adjoint(du, g);
      T* d = dw + (o * in + i) * 9;
      for (int k = 0; k < 9; ++k) d[k] += g[k];
    }
}

// Pointers to the 4×4 patch of tile (ty, tx) of an image [h, w, c]: the input rows 2ty − 1 … 2ty + 2 and columns
// 2tx − 1 … 2tx + 2, or `outside` (c values) where the patch leaves the image.
template <class P>
inline void patch_pointers(const tiling& g, std::int64_t c, P image, std::int64_t ty, std::int64_t tx, P outside,
                           P p[16]) {
  for (int r = 0; r < 4; ++r)
    for (int s = 0; s < 4; ++s) {
      const std::int64_t y = 2 * ty - 1 + r, x = 2 * tx - 1 + s;
      p[r * 4 + s] = y >= 0 && y < g.h && x >= 0 && x < g.w ? image + (y * g.w + x) * c : outside;
    }
}
// Pointers to the 2×2 outputs of tile (ty, tx) of an image [h, w, c], or `outside` where they fall off the image.
template <class P>
inline void block_pointers(const tiling& g, std::int64_t c, P image, std::int64_t ty, std::int64_t tx, P outside,
                           P p[4]) {
  for (int r = 0; r < 2; ++r)
    for (int s = 0; s < 2; ++s) {
      const std::int64_t y = 2 * ty + r, x = 2 * tx + s;
      p[r * 2 + s] = y < g.h && x < g.w ? image + (y * g.w + x) * c : outside;
    }
}

// V[ξ·tiles·c + t·c + ch] = (Bᵀ d B)[ξ] for the patch d of tile t (counted over images, then tile rows and columns)
// of x [images, h, w, c]. zeros: c zeros (the padding).
template <class T>
void transform_input(const tiling& g, std::int64_t images, std::int64_t c, const T* x, const T* zeros, T* V) {
  const std::int64_t tiles = images * g.per_image(), plane = tiles * c;
  std::int64_t t = 0;
  for (std::int64_t b = 0; b < images; ++b)
    for (std::int64_t ty = 0; ty < g.th; ++ty)
      for (std::int64_t tx = 0; tx < g.tw; ++tx, ++t) {
        const T* p[16];
        patch_pointers(g, c, x + b * g.h * g.w * c, ty, tx, zeros, p);
        T* v = V + t * c;
        over_channels<T>(c, [&](std::int64_t ch, auto load, auto store) {
          using L = decltype(load(x));
          L d[4][4], rows[4][4];
          for (int r = 0; r < 4; ++r)
            for (int s = 0; s < 4; ++s) d[r][s] = load(p[r * 4 + s] + ch);
          for (int s = 0; s < 4; ++s) {  // Bᵀ d: along the patch's rows index
            const L col[4] = {d[0][s], d[1][s], d[2][s], d[3][s]};
            L o[4];
            input_1d(col, o);
            for (int r = 0; r < 4; ++r) rows[r][s] = o[r];
          }
          for (int r = 0; r < 4; ++r) {  // (Bᵀ d) B
            L o[4];
            input_1d(rows[r], o);
            for (int s = 0; s < 4; ++s) store(v + (r * 4 + s) * plane + ch, o[s]);
          }
        });
      }
}

// y = Aᵀ M A (+ bias, then ReLU when `relu_out`, then + residual) for every tile of images [images, h, w, c], written
// channels-last; outputs of a tile that fall off the image go to `spill` (4·c values, a run per block position).
// bias/residual may be null; zeros: c zeros.
template <class T>
void transform_output(const tiling& g, std::int64_t images, std::int64_t c, const T* M, const T* bias, bool relu_out,
                      const T* residual, const T* zeros, T* spill, T* y) {
  const std::int64_t tiles = images * g.per_image(), plane = tiles * c;
  std::int64_t t = 0;
  for (std::int64_t b = 0; b < images; ++b)
    for (std::int64_t ty = 0; ty < g.th; ++ty)
      for (std::int64_t tx = 0; tx < g.tw; ++tx, ++t) {
        const std::int64_t img = b * g.h * g.w * c;
        T* out[4];
        const T* res[4];
        block_pointers(g, c, y + img, ty, tx, static_cast<T*>(nullptr), out);
        for (int k = 0; k < 4; ++k)
          if (!out[k]) out[k] = spill + k * c;
        if (residual) block_pointers(g, c, residual + img, ty, tx, zeros, res);
        else std::fill(res, res + 4, zeros);
        const T* m = M + t * c;
        const T* bb = bias ? bias : zeros;
        over_channels<T>(c, [&](std::int64_t ch, auto load, auto store) {
          using L = decltype(load(m));
          L rows[2][4];
          for (int s = 0; s < 4; ++s) {  // Aᵀ m along the rows index
            const L col[4] = {load(m + (0 + s) * plane + ch), load(m + (4 + s) * plane + ch),
                              load(m + (8 + s) * plane + ch), load(m + (12 + s) * plane + ch)};
            L o[2];
            output_1d(col, o);
            rows[0][s] = o[0];
            rows[1][s] = o[1];
          }
          const L b = load(bb + ch);
          for (int r = 0; r < 2; ++r) {
            L o[2];
            output_1d(rows[r], o);
            for (int s = 0; s < 2; ++s) {
              L v = o[s] + b;
              if (relu_out) v = relu(v);
              store(out[r * 2 + s] + ch, load(res[r * 2 + s] + ch) + v);
            }
          }
        });
      }
}

// dM[ξ·tiles·c + t·c + ch] = (A dY Aᵀ)[ξ] for the 2×2 block dY of tile t of dy [images, h, w, c] (0 off the image).
template <class T>
void transform_output_adjoint(const tiling& g, std::int64_t images, std::int64_t c, const T* dy, const T* zeros,
                              T* dM) {
  const std::int64_t tiles = images * g.per_image(), plane = tiles * c;
  std::int64_t t = 0;
  for (std::int64_t b = 0; b < images; ++b)
    for (std::int64_t ty = 0; ty < g.th; ++ty)
      for (std::int64_t tx = 0; tx < g.tw; ++tx, ++t) {
        const T* p[4];
        block_pointers(g, c, dy + b * g.h * g.w * c, ty, tx, zeros, p);
        T* m = dM + t * c;
        over_channels<T>(c, [&](std::int64_t ch, auto load, auto store) {
          using L = decltype(load(dy));
          L rows[4][2];
          for (int s = 0; s < 2; ++s) {  // A dY along the rows index
            const L col[2] = {load(p[s] + ch), load(p[2 + s] + ch)};
            L o[4];
            output_adjoint_1d(col, o);
            for (int r = 0; r < 4; ++r) rows[r][s] = o[r];
          }
          for (int r = 0; r < 4; ++r) {
            L o[4];
            output_adjoint_1d(rows[r], o);
            for (int s = 0; s < 4; ++s) store(m + (r * 4 + s) * plane + ch, o[s]);
          }
        });
      }
}

// dx [images, h, w, c] = Σ over the tiles whose patch covers each element of (B dV Bᵀ) (dx is overwritten; tiles
// are added in order, so the sums are reproducible). spill: 16·c values that take the patch entries off the image
// (one run per patch position, so that no two of a tile's 16 destinations overlap).
template <class T>
void transform_input_adjoint(const tiling& g, std::int64_t images, std::int64_t c, const T* dV, T* spill, T* dx) {
  const std::int64_t tiles = images * g.per_image(), plane = tiles * c;
  std::fill(dx, dx + images * g.h * g.w * c, T(0));
  std::int64_t t = 0;
  for (std::int64_t b = 0; b < images; ++b)
    for (std::int64_t ty = 0; ty < g.th; ++ty)
      for (std::int64_t tx = 0; tx < g.tw; ++tx, ++t) {
        T* p[16];
        patch_pointers(g, c, dx + b * g.h * g.w * c, ty, tx, static_cast<T*>(nullptr), p);
        for (int k = 0; k < 16; ++k)
          if (!p[k]) p[k] = spill + k * c;
        const T* v = dV + t * c;
        over_channels<T>(c, [&](std::int64_t ch, auto load, auto store) {
          using L = decltype(load(dV));
          L rows[4][4];
          for (int s = 0; s < 4; ++s) {  // B dV along the rows index
            const L col[4] = {load(v + (0 + s) * plane + ch), load(v + (4 + s) * plane + ch),
                              load(v + (8 + s) * plane + ch), load(v + (12 + s) * plane + ch)};
            L o[4];
            input_adjoint_1d(col, o);
            for (int r = 0; r < 4; ++r) rows[r][s] = o[r];
          }
          for (int r = 0; r < 4; ++r) {
            L o[4];
            input_adjoint_1d(rows[r], o);
            for (int s = 0; s < 4; ++s) store(p[r * 4 + s] + ch, load(p[r * 4 + s] + ch) + o[s]);
          }
        });
      }
}

}  // namespace vae::cpu_detail::winograd
