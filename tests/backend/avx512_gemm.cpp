// The AVX-512 GEMM kernel against a double-precision reference: every transpose case, row/column/K tails, several row
// blocks, the copied-panel and in-place paths, beta = 0 never reading C, columns past N never written; the windowed
// products a convolution reads in place, and the conv2d input gradient they compute; a Linear weight's inference panels.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "gemm_check.hpp"
#include "vae/backend/cpu/avx512_gemm.hpp"
#include "vae/backend/cpu/conv2d.hpp"
#include "vae/backend/cpu/weight_panels.hpp"
#include "vae/core/rng.hpp"
#include "vae/ops/conv2d.hpp"

namespace avx512_gemm_test {
using namespace gemm_check;

// Each case first calls this: without the kernels there is nothing here to test, and the test reports Skipped (exit 77,
// ctest's SKIP_RETURN_CODE) instead of Passed. Every case in this file needs them; cpu_gemm.cpp holds the others.
inline void skip_without_avx512() {
  if (vae::cpu_detail::avx512::available) return;
  std::fprintf(stderr, "skipped: this build does not target AVX-512 (no -march=native on an AVX-512 cpu, or "
                       "VAE_DISABLE_AVX512); products go to BLAS or Eigen, tested by backend/cpu_gemm\n");
  std::exit(77);
}

// A square-kernel convolution's dims (n, channels in, h, w, channels out, k, stride, padding, dilation).
vae::conv2d_dims conv_dims(std::int64_t n, std::int64_t ci, std::int64_t h, std::int64_t w, std::int64_t co,
                           std::int64_t k, std::int64_t stride, std::int64_t pad, std::int64_t dil) {
  vae::conv2d_dims d{n, ci, h, w, co, k, k};
  d.stride_h = d.stride_w = stride;
  d.pad_h = d.pad_w = pad;
  d.dil_h = d.dil_w = dil;
  return d.finish();
}

std::vector<double> normal_values(std::int64_t n, vae::generator& rng) {
  std::vector<double> v(static_cast<std::size_t>(n));
  rng.fill_normal(v.data(), n, 0.0, 1.0);
  return v;
}

void serial_kernel(const product& p, const float* A, const float* B, float* C) {
  REQUIRE(vae::cpu_detail::avx512::gemm(p.ta, p.tb, p.M, p.N, p.K, p.alpha, A, p.lda, B, p.ldb, p.beta, C, p.ldc));
}

}  // namespace avx512_gemm_test

TEST_CASE("avx512 gemm: small random shapes, all transpose cases, against double") {
  using namespace avx512_gemm_test;
  skip_without_avx512();
  std::mt19937 rng(7);
  for (int t = 0; t < 160; ++t) check(random_product(rng, t % 2, (t / 2) % 2, 40, 70, 300), rng, serial_kernel);
}

TEST_CASE("avx512 gemm: several row blocks, copied and in-place panels, page-multiple strides") {
  using namespace avx512_gemm_test;
  skip_without_avx512();
  std::mt19937 rng(11);
  // M > 1024 (panels copied), ldb a multiple of 1024 floats (copied), K spanning several 128-deep blocks, N tails.
  check({false, false, 1030, 45, 70, 70, 45, 47, 1.0f, 1.0f}, rng, serial_kernel);
  check({true, false, 200, 33, 300, 200, 1024, 33, 0.5f, 0.0f}, rng, serial_kernel);
  check({false, true, 300, 90, 260, 260, 260, 90, 1.0f, 0.0f}, rng, serial_kernel);
  check({true, true, 150, 17, 129, 150, 129, 20, 1.0f, -0.3f}, rng, serial_kernel);
  check({false, false, 128, 784, 256, 256, 784, 784, 1.0f, 0.0f}, rng, serial_kernel);  // an MLP layer's dx
}

TEST_CASE("avx512 gemm: one to four rows (a sampled token's products) stream B in place, every tail") {
  using namespace avx512_gemm_test;
  skip_without_avx512();
  std::mt19937 rng(13);
  for (std::int64_t m = 1; m <= 5; ++m)  // 5: just past the skinny path, through the panels
    for (const std::int64_t n : {1, 7, 16, 33, 255, 256, 300})
      for (const std::int64_t k : {1, 15, 16, 64, 129}) {
        const float beta = (n + k) % 3 == 0 ? 0.0f : 0.5f;
        check({false, false, m, n, k, k + 3, n + 5, n + 1, 1.5f, beta}, rng, serial_kernel);  // B [K,N]
        check({false, true, m, n, k, k + 3, k + 2, n + 1, 1.5f, beta}, rng, serial_kernel);   // B [N,K]: a weight
      }
}

TEST_CASE("avx512 gemm_windows / gemm_windows_weight read a convolution's columns in place: bit for bit im2col_cl then gemm") {
  avx512_gemm_test::skip_without_avx512();
#if defined(VAE_AVX512_KERNELS)  // gemm_windows exists only in builds with the kernels
  namespace cd = vae::cpu_detail;
  struct named {
    const char* label;
    cd::window_geometry g;
    std::int64_t n_out;
  };
  // {n, c, h, w, k_h, k_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh, ow}
  const named cases[] = {
      {"3x3 s1 p1, 128 channels (a residual block's c1)", {4, 128, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 7, 7}, 32},
      {"4x4 s2 p1, 64 channels (two runs per 128-deep block)", {5, 64, 14, 14, 4, 4, 2, 2, 1, 1, 1, 1, 7, 7}, 128},
      {"3x3 s1 p2 dilation 2, 48 channels (runs across block edges), N tail", {3, 48, 6, 5, 3, 3, 1, 1, 2, 2, 2, 2, 6, 5},
       20},
      {"many rows, packed panels (N = 1024)", {6, 16, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 9, 9}, 1024},
      {"5x3 window, 1 channel, stride 2", {2, 1, 11, 9, 5, 3, 2, 2, 2, 1, 1, 1, 6, 5}, 40},
  };
  std::mt19937 rng(23);
  std::normal_distribution<float> normal;
  for (const auto& c : cases) {
    const auto& g = c.g;
    const std::int64_t rows = g.n * g.oh * g.ow, taps = g.k_h * g.k_w, K = taps * g.c, N = c.n_out;
    std::vector<float> x(g.n * g.h * g.w * g.c), B(K * N), col(rows * K);
    for (auto& v : x) v = normal(rng);
    for (auto& v : B) v = normal(rng);
    cd::im2col_cl(g, x.data(), col.data());
    std::vector<float> expect(rows * N), got(rows * N, std::numeric_limits<float>::quiet_NaN());
    REQUIRE(cd::avx512::gemm(false, false, rows, N, K, 1.0f, col.data(), K, B.data(), N, 0.0f, expect.data(), N));
    std::vector<std::int32_t> offsets(rows * taps);
    cd::window_offsets(g, offsets.data());
    const std::int64_t padded = std::count(offsets.begin(), offsets.end(), -1);
    cd::avx512::gemm_windows<float>(rows, N, K, cd::avx512::window_rows{x.data(), offsets.data(), taps, g.c}, B.data(),
                                    N, got.data(), N);
    std::int64_t mismatches = 0;
    for (std::size_t i = 0; i < got.size(); ++i) mismatches += !(got[i] == expect[i]);
    // The weight gradient's product: C [N, K] += doutᵀ·cols with dout [rows, N], the columns gathered in place.
    std::vector<float> dout(rows * N), gw(N * K);
    for (auto& v : dout) v = normal(rng);
    for (auto& v : gw) v = normal(rng);
    std::vector<float> expect_w = gw;
    REQUIRE(cd::avx512::gemm(true, false, N, K, rows, 1.0f, dout.data(), N, col.data(), K, 1.0f, expect_w.data(), K));
    cd::avx512::gemm_windows_weight<float>(N, K, rows, dout.data(), N,
                                           cd::avx512::window_rows{x.data(), offsets.data(), taps, g.c}, gw.data(), K);
    std::int64_t weight_mismatches = 0;
    for (std::size_t i = 0; i < gw.size(); ++i) weight_mismatches += !(gw[i] == expect_w[i]);
    INFO(c.label);
    CHECK(mismatches == 0);
    CHECK(weight_mismatches == 0);
    CHECK(padded > 0);  // every case reads padding
  }
#endif
}

// Here rather than in tests/ops/conv_channels_last.cpp: it needs the kernels, and this file reports Skipped as a whole
// without them (a case that returned early there would report Passed).
TEST_CASE("conv2d stride-1 input gradient read through dy's windows (float, AVX-512) equals the column path's") {
  using namespace avx512_gemm_test;
  skip_without_avx512();
  using vae::cpu_detail::conv_path;
  using K = vae::kernel<vae::conv2d_op, vae::cpu>;
  // One thread: the chunks are then tasks whose products run serially, where the windows path applies.
#if defined(_OPENMP)
  const int threads = vae::max_threads();
  omp_set_num_threads(1);
#endif
  struct named {
    const char* label;
    vae::conv2d_dims d;
    bool cl_in;
  };
  auto dil2 = conv_dims(3, 16, 8, 7, 24, 3, 1, 2, 2);
  auto wide_pad = conv_dims(2, 32, 6, 6, 20, 3, 1, 3, 1);  // padding past the window: pad' < 0 on dy
  named cases[] = {{"3x3 p1, 128 -> 32 (a residual block's c1), channels-last", conv_dims(5, 128, 7, 7, 32, 3, 1, 1, 1), true},
                   {"3x3 p1, NCHW input", conv_dims(2, 24, 9, 9, 40, 3, 1, 1, 1), false},
                   {"3x3 p2 dilation 2", dil2, true},
                   {"3x3 p3 (pad > k - 1)", wide_pad, true},
                   {"5x5 p0, one output channel", conv_dims(2, 16, 9, 8, 1, 5, 1, 0, 1), true}};
  for (auto& c : cases) {
    vae::cpu_detail::conv2d_plan d(c.d, c.cl_in ? vae::memory_format::channels_last : vae::memory_format::channels_first);
    const std::int64_t x_size = d.n * d.in_c * d.in_h * d.in_w, y_size = d.n * d.out_c * d.out_h * d.out_w;
    const std::int64_t w_size = d.out_c * d.in_c * d.k_h * d.k_w;
    vae::generator rng(29);
    const auto xd = normal_values(x_size, rng), wd = normal_values(w_size, rng), dyd = normal_values(y_size, rng);
    const std::vector<float> x(xd.begin(), xd.end()), w(wd.begin(), wd.end()), dy(dyd.begin(), dyd.end());
    std::vector<float> dx(static_cast<std::size_t>(x_size));
    std::vector<float> scratch(static_cast<std::size_t>(K::scratch_size(d, conv_path::channels_last)));
    float* none = nullptr;
    K::backward(d, x.data(), w.data(), dy.data(), dx.data(), none, none, scratch.data(), conv_path::channels_last);
    // The reference: the double kernel (dcol and col2im) on the same values.
    std::vector<double> dx_ref(static_cast<std::size_t>(x_size));
    std::vector<double> scratch_d(static_cast<std::size_t>(K::scratch_size(d, conv_path::channels_last)));
    double* none_d = nullptr;
    K::backward(d, xd.data(), wd.data(), dyd.data(), dx_ref.data(), none_d, none_d, scratch_d.data(),
                conv_path::channels_last);
    double worst = 0;
    for (std::size_t i = 0; i < dx.size(); ++i) worst = std::max(worst, std::abs(dx[i] - dx_ref[i]));
    INFO(std::string(c.label), ": max abs err ", worst);
    // Float accumulation over K = out_c·k_h·k_w unit-normal products, against double: a few ε·K·√K at most.
    const double K_terms = double(d.out_c * d.k_h * d.k_w);
    CHECK(worst < 8 * 1.2e-7 * K_terms * std::sqrt(K_terms));
    CHECK(std::abs(dx_ref[dx_ref.size() / 2]) > 0.0);
  }
#if defined(_OPENMP)
  omp_set_num_threads(threads);
#endif
}

TEST_CASE("avx512 gemm_from_panels: a weight's inference panels give its products bit for bit, every tail and split") {
  using namespace avx512_gemm_test;
  skip_without_avx512();
#if defined(VAE_AVX512_KERNELS)  // the panels and gemm_from_panels exist only in builds with the kernels
  namespace cd = vae::cpu_detail;
  std::mt19937 rng(17);
  std::normal_distribution<float> normal;
  for (const std::int64_t n : {1, 31, 32, 33, 70, 100})
    for (const std::int64_t k : {1, 17, 300}) {
      std::vector<float> w(static_cast<std::size_t>(n * k)), wt(w.size());  // W [N,K] (a Linear weight), Wᵀ [K,N]
      for (auto& v : w) v = normal(rng);
      for (std::int64_t o = 0; o < n; ++o)
        for (std::int64_t i = 0; i < k; ++i) wt[i * n + o] = w[o * k + i];
      std::vector<float> storage(static_cast<std::size_t>(cd::weight_panel_floats(n, k) + 16), std::nanf(""));
      float* panels = storage.data() + (16 - reinterpret_cast<std::uintptr_t>(storage.data()) / 4 % 16) % 16;
      cd::pack_weight_panels(w.data(), n, k, panels);
      // The padding columns of the last panel are zeros (read by the kernels, so never NaN).
      const std::int64_t padded = cd::weight_panel_floats(n, k) / k;
      std::int64_t bad_padding = 0;
      for (std::int64_t kk = 0; kk < k; ++kk)
        for (std::int64_t j = n; j < padded; ++j) bad_padding += panels[(j / 32) * k * 32 + kk * 32 + j % 32] != 0.0f;
      CHECK(bad_padding == 0);
      for (const std::int64_t m : {1, 2, 3, 4, 5, 13, 130}) {
        CAPTURE(m);
        CAPTURE(n);
        CAPTURE(k);
        const std::int64_t lda = k + 3, ldc = n + 2;
        std::vector<float> a(static_cast<std::size_t>(m * lda));
        for (auto& v : a) v = normal(rng);
        std::vector<float> c(static_cast<std::size_t>(m * ldc), 7.0f), want(c.size(), 7.0f), banded(c.size(), 7.0f);
        cd::avx512::gemm_from_panels(m, n, k, a.data(), lda, panels, c.data(), ldc);
        // What the unfrozen Linear computes (the weight read transposed) for more than skinny_rows rows; for fewer, the
        // product of the weight's [K,N] transpose (a frozen store's layout before the panels), as the KV-cache sampler
        // computed it.
        if (m <= cd::avx512::skinny_rows)
          REQUIRE(cd::avx512::gemm(false, false, m, n, k, 1.0f, a.data(), lda, wt.data(), n, 0.0f, want.data(), ldc));
        else
          REQUIRE(cd::avx512::gemm(false, true, m, n, k, 1.0f, a.data(), lda, w.data(), k, 0.0f, want.data(), ldc));
        cd::gemm_from_panels_bands(m, n, k, a.data(), lda, panels, banded.data(), ldc);
        std::int64_t differ = 0, banded_differ = 0;
        for (std::size_t i = 0; i < c.size(); ++i) {  // columns n … ldc − 1 stay 7: never written
          differ += c[i] != want[i];
          banded_differ += banded[i] != want[i];
        }
        CHECK(differ == 0);
        CHECK(banded_differ == 0);
      }
    }
#endif
}
