// Host emulation of the cuda kernels (see run.sh): each block's threads are std::threads, __syncthreads a
// std::barrier, __shared__ a static (blocks run one after another), cuBLAS cpu_detail::gemm. Every op is compared
// with its cpu kernel in double (relative 1e-12): this checks the kernels' indexing and reductions, not the device.
#include <barrier>
#include <cmath>
#include <math.h>
#include <cstdio>
#include <functional>
#include <random>
#include <thread>
#include <vector>
#include <algorithm>
#include <array>
#include <limits>
#include "vae/ops/group_norm.hpp"
#include "vae/ops/layer_norm.hpp"
#include "vae/ops/batch_norm.hpp"
#include "vae/ops/softmax.hpp"
#include "vae/ops/losses.hpp"
#include "vae/train/sgd.hpp"
#include "vae/train/adam.hpp"
#include "vae/ops/conv2d.hpp"
#include "vae/ops/conv_transpose2d.hpp"
#include "vae/ops/upsample.hpp"
#include "vae/ops/avg_pool2d.hpp"
#include "vae/ops/gaussian_latent.hpp"
#include "vae/ops/likelihood_terms.hpp"
#include "vae/ops/vq_nearest.hpp"
#include "vae/ops/vq_terms.hpp"
#include "vae/ops/add.hpp"
#include "vae/ops/act_norm.hpp"
#include "vae/ops/pad2d.hpp"
#include "vae/ops/max_pool2d.hpp"
#include "vae/ops/feature_distance.hpp"

struct emu_dim { unsigned x; };
thread_local emu_dim threadIdx, blockIdx;
emu_dim blockDim{256};
std::barrier<>* emu_bar = nullptr;
inline void __syncthreads() { emu_bar->arrive_and_wait(); }
#define __global__
#define __device__
#define __shared__ static

namespace vae {
template <class Op> struct emu_kernel;
// One std::thread per CUDA thread of a block, created once per launch; the blocks run one after another (their
// __shared__ arrays are statics), each thread waiting at the barrier between blocks. (Creating the threads anew for
// every block made this harness the suite's longest test: kernels with a block per row launch hundreds of blocks.)
inline void emu_launch(unsigned blocks, unsigned threads, const std::function<void()>& f) {
  if (blocks == 0) return;
  blockDim.x = threads;
  std::barrier<> bar(threads);
  emu_bar = &bar;
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      threadIdx.x = t;
      for (unsigned b = 0; b < blocks; ++b) {
        blockIdx.x = b;
        f();
        bar.arrive_and_wait();  // every thread of block b is done before block b + 1 starts
      }
    });
  for (auto& t : ts) t.join();
}
template <class T> void emu_copy_to_host(T* dst, const T* src, std::size_t n) { std::copy_n(src, n, dst); }
namespace cuda_detail {
inline constexpr unsigned threads_per_block = 256;
inline unsigned blocks_for(std::int64_t n) { return static_cast<unsigned>((n + 255) / 256); }
inline std::int64_t thread_index() { return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
inline void check_launch(const char*) {}
inline int stream() { return 0; }
// cuBLAS stand-in: the cpu GEMM (the real cuda_detail::gemm is checked against it by tests/cuda/linear.cu on a GPU).
template <class T>
void gemm(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A, std::int64_t lda,
          const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc) {
  if (M == 0 || N == 0) return;
  cpu_detail::gemm<T>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
}  // namespace cuda_detail
}  // namespace vae
#include "kernels_emu.hpp"

using namespace vae;
std::mt19937 gen(7);
std::vector<double> rnd(std::int64_t n, double scale = 1, double shift = 0) {
  std::normal_distribution<double> N; std::vector<double> v(n); for (auto& e : v) e = shift + scale * N(gen); return v; }
int fails = 0;
void cmp(const char* what, const std::vector<double>& a, const std::vector<double>& b, double tol = 1e-12) {
  double m = 0; for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]) / (1 + std::abs(b[i])));
  if (!(m <= tol)) { ++fails; std::printf("FAIL %s: %g\n", what, m); }
}
void cmpv(const char* what, double a, double b) { if (!(std::abs(a - b) <= 1e-12 * (1 + std::abs(b)))) { ++fails; std::printf("FAIL %s: %g vs %g\n", what, a, b); } }

template <class K, class E, class D>
void conv_case(const char* what, D d, std::int64_t wsize, std::int64_t xin, std::int64_t yout, std::int64_t oc,
               bool with_fusions) {
  // Plain, then (with_fusions) with the op-level fusions (ReLU and a residual on the output; the input's ReLU and a
  // residual gradient on dx), which the device applies in its own elementwise pass after the product.
  for (int pass = 0; pass < (with_fusions ? 2 : 1); ++pass) {
    const bool fused = pass == 1;
    auto x = rnd(xin), w = rnd(wsize), b = rnd(oc), dy = rnd(yout), dw = rnd(wsize), db = rnd(oc);
    const auto skip = rnd(yout), dskip = rnd(xin);
    std::vector<double> y1(yout), y2(yout), dx1(xin), dx2(xin), dw1 = dw, dw2 = dw, db1 = db, db2 = db;
    const auto f = memory_format::channels_first;
    const conv_output<double> out{fused, fused ? skip.data() : nullptr};
    const conv_input_grad<double> in{fused, fused ? dskip.data() : nullptr};
    std::vector<double> s1(K::scratch_size(d, f)), s2(E::scratch_size(d, f));
    K::forward(d, x.data(), w.data(), b.data(), y1.data(), s1.data(), f, out);
    E::forward(d, x.data(), w.data(), b.data(), y2.data(), s2.data(), f, out);
    K::backward(d, x.data(), w.data(), dy.data(), dx1.data(), dw1.data(), db1.data(), s1.data(), f, in);
    E::backward(d, x.data(), w.data(), dy.data(), dx2.data(), dw2.data(), db2.data(), s2.data(), f, in);
    cmp(what, y2, y1); cmp(what, dx2, dx1); cmp(what, dw2, dw1); cmp(what, db2, db1);
  }
}

// The VAE policy ops (ops/likelihood_terms.hpp, ops/gaussian_latent.hpp): Bernoulli / Gaussian per-image sums in
// one block per image (p below and above the 256 threads), their gradients, the sigmoid mean, split/join of
// (mu, logvar), the reparameterisation drawing eps from the same Philox stream as the cpu (and reserving the same
// number of draws), and the standard-normal KL per row / per dimension (N above 256) with its gradient.
void vae_policy_cases() {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (auto [rows, p] : {std::pair<std::int64_t, std::int64_t>{3, 1}, {5, 300}, {4, 700}}) {
    const auto n = rows * p;
    auto out = rnd(n, 4), x = rnd(n), w = rnd(rows, 0.3, 0.1);
    for (auto& e : x) e = unit(gen);
    std::vector<double> r1(rows), r2(rows), d1(n), d2(n), m1(n), m2(n);
    kernel<bernoulli_likelihood_op, cpu>::nll(rows, p, out.data(), x.data(), r1.data());
    emu_kernel<bernoulli_likelihood_op>::nll(rows, p, out.data(), x.data(), r2.data());
    cmp("bernoulli nll", r2, r1);
    kernel<bernoulli_likelihood_op, cpu>::backward(rows, p, out.data(), x.data(), w.data(), d1.data());
    emu_kernel<bernoulli_likelihood_op>::backward(rows, p, out.data(), x.data(), w.data(), d2.data());
    cmp("bernoulli grad", d2, d1);
    kernel<bernoulli_likelihood_op, cpu>::mean(n, out.data(), m1.data());
    emu_kernel<bernoulli_likelihood_op>::mean(n, out.data(), m2.data());
    cmp("bernoulli mean", m2, m1);
    kernel<gaussian_likelihood_op, cpu>::nll(rows, p, 0.3, out.data(), x.data(), r1.data());
    emu_kernel<gaussian_likelihood_op>::nll(rows, p, 0.3, out.data(), x.data(), r2.data());
    cmp("gaussian nll", r2, r1);
    kernel<gaussian_likelihood_op, cpu>::backward(rows, p, 0.3, out.data(), x.data(), w.data(), d1.data());
    emu_kernel<gaussian_likelihood_op>::backward(rows, p, 0.3, out.data(), x.data(), w.data(), d2.data());
    cmp("gaussian grad", d2, d1);
  }
  for (auto [n, d] : {std::pair<std::int64_t, std::int64_t>{7, 5}, {300, 3}, {2, 260}}) {
    const auto m = n * d;
    auto h = rnd(2 * m), dz = rnd(m), dmu = rnd(m), dlv = rnd(m), rs = rnd(n, 0.1), ds = rnd(d, 1, 0.5);
    std::vector<double> mu1(m), mu2(m), lv1(m), lv2(m), h1(2 * m), h2(2 * m);
    kernel<posterior_split_op, cpu>::split(n, d, h.data(), mu1.data(), lv1.data());
    emu_kernel<posterior_split_op>::split(n, d, h.data(), mu2.data(), lv2.data());
    cmp("split mu", mu2, mu1, 0); cmp("split logvar", lv2, lv1, 0);
    kernel<posterior_split_op, cpu>::join(n, d, mu1.data(), lv1.data(), h1.data());
    emu_kernel<posterior_split_op>::join(n, d, mu1.data(), lv1.data(), h2.data());
    cmp("join", h2, h1, 0); cmp("join inverts split", h1, h, 0);
    generator g1(31), g2(31);
    g1.reserve(17); g2.reserve(17);
    std::vector<double> e1(m), e2(m), z1(m), z2(m);
    kernel<reparameterize_op, cpu>::forward(g1, m, mu1.data(), lv1.data(), e1.data(), z1.data());
    emu_kernel<reparameterize_op>::forward(g2, m, mu1.data(), lv1.data(), e2.data(), z2.data());
    cmp("reparameterize eps", e2, e1); cmp("reparameterize z", z2, z1);
    if (g1.offset() != g2.offset()) { ++fails; std::printf("FAIL reparameterize: generator offsets differ\n"); }
    auto a1 = dmu, a2 = dmu, b1 = dlv, b2 = dlv;
    kernel<reparameterize_op, cpu>::backward(m, lv1.data(), e1.data(), dz.data(), a1.data(), b1.data());
    emu_kernel<reparameterize_op>::backward(m, lv1.data(), e1.data(), dz.data(), a2.data(), b2.data());
    cmp("reparameterize dmu", a2, a1); cmp("reparameterize dlogvar", b2, b1);
    kernel<normal_fill_op, cpu>::run(g1, e1.data(), m);
    emu_kernel<normal_fill_op>::run(g2, e2.data(), m);
    cmp("fill_normal", e2, e1);
    if (g1.offset() != g2.offset()) { ++fails; std::printf("FAIL fill_normal: generator offsets differ\n"); }
    std::vector<double> pr1(n), pr2(n), pd1(d), pd2(d);
    kernel<gaussian_kl_op, cpu>::forward(n, d, mu1.data(), lv1.data(), nullptr, nullptr, pr1.data(), pd1.data());
    emu_kernel<gaussian_kl_op>::forward(n, d, mu1.data(), lv1.data(), nullptr, nullptr, pr2.data(), pd2.data());
    cmp("kl per row", pr2, pr1); cmp("kl per dim", pd2, pd1);
    for (bool dims : {false, true}) {
      auto c1 = dmu, c2 = dmu, f1 = dlv, f2 = dlv;
      const double* dsp = dims ? ds.data() : nullptr;
      kernel<gaussian_kl_op, cpu>::backward(n, d, mu1.data(), lv1.data(), nullptr, nullptr, rs.data(), dsp, c1.data(), f1.data(), nullptr, nullptr);
      emu_kernel<gaussian_kl_op>::backward(n, d, mu1.data(), lv1.data(), nullptr, nullptr, rs.data(), dsp, c2.data(), f2.data(), nullptr, nullptr);
      cmp("kl dmu", c2, c1); cmp("kl dlogvar", f2, f1);
    }
  }
}

void conv_pool_upsample() {
  for (int g : {1, 2}) for (int k : {1, 3, 4}) for (int s : {1, 2}) for (int p : {0, 1}) for (int dil : {1, 2}) {
    conv2d_dims d{2, 2 * g, 7, 6, 2 * g, k, k % 3 + 1, s, 3 - s, p, 1 - p, dil, 3 - dil, g};  // h and w differ
    d.finish();
    // The fusion pass is elementwise, whatever the geometry: checked on the 3x3, padding-1, dilation-1 shapes.
    const bool with_fusions = k == 3 && p == 1 && dil == 1;
    if (d.out_h > 0 && d.out_w > 0)
      conv_case<kernel<conv2d_op, cpu>, emu_kernel<conv2d_op>>("conv2d", d, d.out_c * (d.in_c / g) * d.k_h * d.k_w,
                                                               2 * d.in_c * 42, 2 * d.out_c * d.out_h * d.out_w, d.out_c,
                                                               with_fusions);
    conv_transpose2d_dims t{2, 2 * g, 4, 5, 2 * g, k, k % 3 + 1, s, 3 - s, p, 1 - p, s - 1, 2 - s, dil, 3 - dil, g};
    t.finish();
    if (t.out_h > 0 && t.out_w > 0)
      conv_case<kernel<conv_transpose2d_op, cpu>, emu_kernel<conv_transpose2d_op>>(
          "conv_transpose2d", t, t.in_c * (t.out_c / g) * t.k_h * t.k_w, 2 * t.in_c * 20, 2 * t.out_c * t.out_h * t.out_w, t.out_c,
          with_fusions);
  }
  for (int k : {1, 2, 3}) for (int s : {1, 2, 3}) for (int p : {0, 1}) {
    if (2 * p > k) continue;
    avg_pool2d_dims d{3, 7, 9, k, s, p};
    d.finish();
    auto x = rnd(3 * 63), dy = rnd(3 * d.out_h * d.out_w);
    std::vector<double> y1(dy.size()), y2(dy.size()), dx1(x.size()), dx2(x.size());
    kernel<avg_pool2d_op, cpu>::forward(d, x.data(), y1.data());
    emu_kernel<avg_pool2d_op>::forward(d, x.data(), y2.data());
    kernel<avg_pool2d_op, cpu>::backward(d, dy.data(), dx1.data());
    emu_kernel<avg_pool2d_op>::backward(d, dy.data(), dx2.data());
    cmp("avg_pool2d forward", y2, y1); cmp("avg_pool2d backward", dx2, dx1);
  }
  for (int s : {1, 2, 3}) {
    upsample_dims d{4, 5, 7, s};
    auto x = rnd(140), dy = rnd(140 * s * s);
    std::vector<double> y1(dy.size()), y2(dy.size()), dx1(x.size()), dx2(x.size());
    kernel<upsample_nearest_op, cpu>::forward(d, x.data(), y1.data());
    emu_kernel<upsample_nearest_op>::forward(d, x.data(), y2.data());
    kernel<upsample_nearest_op, cpu>::backward(d, dy.data(), dx1.data());
    emu_kernel<upsample_nearest_op>::backward(d, dy.data(), dx2.data());
    cmp("upsample forward", y2, y1); cmp("upsample backward", dx2, dx1);
  }
}

// vq_nearest: same GEMM stand-in and the same serial norms as the cpu kernel, so the distances agree and the
// block argmin must reproduce the cpu's indices exactly: codes below/above the 256 threads of a row's block, integer
// data full of exact ties (lowest index wins), a NaN code column and an all-NaN row (last code).
void vq_nearest_cases() {
  std::uniform_int_distribution<int> small(-2, 2);
  for (int variant = 0; variant < 5; ++variant) {
    const vq_nearest_dims d = variant == 0 ? vq_nearest_dims{13, 7, 3} : variant == 1 ? vq_nearest_dims{9, 257, 8}
                              : variant == 2 ? vq_nearest_dims{6, 600, 5} : vq_nearest_dims{20, 300, 4};
    auto z = rnd(d.rows * d.dim), E = rnd(d.codes * d.dim);
    if (variant >= 3) {  // integer entries: exact distances, many ties; code 1 copies code 0, code 290 copies 289
      for (auto& e : z) e = small(gen);
      for (auto& e : E) e = small(gen) / 2;
      for (std::int64_t j = 0; j < d.dim; ++j) { E[d.dim + j] = E[j]; E[290 * d.dim + j] = E[289 * d.dim + j]; }
    }
    if (variant == 4) {  // code 0 NaN in every row; row 3 all NaN
      E[0] = std::numeric_limits<double>::quiet_NaN();
      z[3 * d.dim] = std::numeric_limits<double>::quiet_NaN();
    }
    std::vector<double> n1(d.codes), n2(d.codes), d1(d.rows * d.codes), d2(d.rows * d.codes);
    std::vector<std::int32_t> i1(d.rows, -1), i2(d.rows, -1);
    kernel<vq_nearest_op, cpu>::code_norms(d, E.data(), n1.data());
    emu_kernel<vq_nearest_op>::code_norms(d, E.data(), n2.data());
    kernel<vq_nearest_op, cpu>::nearest(d, z.data(), E.data(), n1.data(), d1.data(), i1.data());
    emu_kernel<vq_nearest_op>::nearest(d, z.data(), E.data(), n1.data(), d2.data(), i2.data());
    if (variant < 4) { cmp("vq_nearest code norms", n2, n1); cmp("vq_nearest distances", d2, d1); }
    if (i1 != i2) { ++fails; std::printf("FAIL vq_nearest indices (variant %d)\n", variant); }
    if (variant == 4 && i1[3] != d.codes - 1) { ++fails; std::printf("FAIL vq_nearest all-NaN row\n"); }
    if (variant >= 3) {
      std::int64_t ties = 0;
      for (std::int64_t r = 0; r < d.rows; ++r) {
        // Code 1 duplicates code 0 only while code 0 is finite (variant 4 makes it NaN: code 1 may then win).
        const bool duplicate = (i1[r] == 1 && variant == 3) || i1[r] == 290;
        if (duplicate) { ++fails; std::printf("FAIL vq_nearest picked a duplicate code\n"); }
        std::int64_t holders = 0;
        for (std::int64_t k = 0; k < d.codes; ++k) holders += d1[r * d.codes + k] == d1[r * d.codes + i1[r]];
        ties += holders > 1;
      }
      if (ties < d.rows / 2) { ++fails; std::printf("FAIL vq_nearest: only %ld tie rows\n", static_cast<long>(ties)); }
    }
  }
}

// The quantizer element ops (ops/vq_terms.hpp) and ops/add.hpp: layouts, gather, counts and both gradients must be
// bit for bit the cpu's (same float operations in the same order per element; integer data makes many rows share a
// code, so the codebook gradient sums several rows per entry), the squared error within rounding of the sum order
// (per-row sums then a block tree, against one running sum), the EMA update within 1e-12 (FMA contraction may differ). Sizes below and above one 256-thread block (588 rows: three
// chunks of rows_by_code's counting sort, the last one partial).
void vq_terms_cases() {
  std::uniform_int_distribution<int> pick(0, 1 << 20);
  for (auto [n, c, hw, K] : {std::array<std::int64_t, 4>{2, 3, 5, 4}, {3, 64, 4, 9}, {5, 7, 49, 300}, {12, 3, 49, 300}}) {
    const std::int64_t M = n * hw, total = M * c;
    auto x = rnd(total), zc = rnd(total), E = rnd(K * c), dz = rnd(total), g = rnd(K * c);
    std::vector<std::int32_t> idx(M);
    for (auto& i : idx) i = static_cast<std::int32_t>(pick(gen) % (K > 5 ? 5 : K)) * static_cast<std::int32_t>(K > 5 ? K / 5 : 1);
    std::vector<double> r1(total), r2(total), b1(total), b2(total);
    kernel<rows_layout_op, cpu>::to_rows(n, c, hw, x.data(), r1.data());
    emu_kernel<rows_layout_op>::to_rows(n, c, hw, x.data(), r2.data());
    cmp("nchw_to_rows", r2, r1, 0);
    kernel<rows_layout_op, cpu>::to_nchw(n, c, hw, r1.data(), b1.data());
    emu_kernel<rows_layout_op>::to_nchw(n, c, hw, r1.data(), b2.data());
    cmp("rows_to_nchw", b2, b1, 0); cmp("rows_to_nchw inverts nchw_to_rows", b1, x, 0);
    std::vector<double> e1(total), e2(total);
    kernel<vq_terms_op, cpu>::gather(M, c, E.data(), idx.data(), e1.data());
    emu_kernel<vq_terms_op>::gather(M, c, E.data(), idx.data(), e2.data());
    cmp("vq_gather", e2, e1, 0);
    cmpv("vq_squared_error", emu_kernel<vq_terms_op>::squared_error(M, c, zc.data(), e1.data()),
         kernel<vq_terms_op, cpu>::squared_error(M, c, zc.data(), e1.data()));
    auto d1 = dz, d2 = dz;
    kernel<vq_terms_op, cpu>::commitment_grad(total, 0.37, zc.data(), e1.data(), d1.data());
    emu_kernel<vq_terms_op>::commitment_grad(total, 0.37, zc.data(), e1.data(), d2.data());
    cmp("vq_commitment_grad", d2, d1, 0);
    auto g1 = g, g2 = g;
    kernel<vq_terms_op, cpu>::codebook_grad(M, K, c, 1.7, idx.data(), zc.data(), e1.data(), g1.data());
    emu_kernel<vq_terms_op>::codebook_grad(M, K, c, 1.7, idx.data(), zc.data(), e1.data(), g2.data());
    cmp("vq_codebook_grad", g2, g1, 0);
    if (g1 == g) { ++fails; std::printf("FAIL vq_codebook_grad changed nothing\n"); }
    std::vector<std::int64_t> k1(K, -1), k2(K, -1);
    kernel<vq_terms_op, cpu>::counts(M, K, idx.data(), k1.data());
    emu_kernel<vq_terms_op>::counts(M, K, idx.data(), k2.data());
    if (k1 != k2) { ++fails; std::printf("FAIL vq_code_counts\n"); }
    {  // EMA update from the same state, with the batch counts of idx (codes without rows keep decaying)
      auto n1 = rnd(K, 0.3, 1.0), s1 = rnd(K * c), c1 = rnd(K * c);
      auto n2 = n1, s2 = s1, c2 = c1;
      const vq_ema_args a{M, K, c, 0.9, 1e-5};
      kernel<vq_terms_op, cpu>::ema_update(a, idx.data(), zc.data(), k1.data(), n1.data(), s1.data(), c1.data());
      emu_kernel<vq_terms_op>::ema_update(a, idx.data(), zc.data(), k1.data(), n2.data(), s2.data(), c2.data());
      cmp("vq_ema_update count", n2, n1); cmp("vq_ema_update sum", s2, s1); cmp("vq_ema_update codebook", c2, c1);
    }
    std::vector<double> a1(total), a2(total);
    kernel<add_op, cpu>::add(total, x.data(), zc.data(), a1.data());
    emu_kernel<add_op>::add(total, x.data(), zc.data(), a2.data());
    cmp("add", a2, a1, 0);
    kernel<add_op, cpu>::subtract(total, x.data(), zc.data(), a1.data());
    emu_kernel<add_op>::subtract(total, x.data(), zc.data(), a2.data());
    cmp("subtract", a2, a1, 0);
    emu_kernel<add_op>::add(total, a2.data(), zc.data(), a2.data());  // in place: (x − zc) + zc
    kernel<add_op, cpu>::add(total, a1.data(), zc.data(), a1.data());
    cmp("add in place", a2, a1, 0);
  }
}

// The VQ-GAN blocks' ops: zero padding (exact copies) and ActNorm (its initialisation once, from the flag on the
// "device", channel blocks below and above the 256 threads, accumulated parameter gradients).
void vqgan_cases() {
  for (auto d : {pad2d_dims{6, 4, 5, 0, 1, 0, 1}, pad2d_dims{2, 3, 2, 2, 1, 3, 0}}) {
    auto x = rnd(d.planes * d.h * d.w), dy = rnd(d.planes * d.out_h() * d.out_w());
    std::vector<double> y1(dy.size()), y2(dy.size()), dx1(x.size()), dx2(x.size());
    kernel<pad2d_op, cpu>::forward(d, x.data(), y1.data());
    emu_kernel<pad2d_op>::forward(d, x.data(), y2.data());
    kernel<pad2d_op, cpu>::backward(d, dy.data(), dx1.data());
    emu_kernel<pad2d_op>::backward(d, dy.data(), dx2.data());
    cmp("pad2d forward", y2, y1, 0); cmp("pad2d backward", dx2, dx1, 0);
  }
  for (auto d : {act_norm_dims{3, 5, 37}, act_norm_dims{2, 3, 300}}) {
    const auto n = d.batch * d.channels * d.spatial;
    auto x = rnd(n, 3, 1), other = rnd(n), dy = rnd(n);
    std::vector<double> l1(d.channels, 0.0), s1(d.channels, 1.0), f1{0.0}, l2 = l1, s2 = s1, f2 = f1;
    kernel<act_norm_op, cpu>::initialize(d, x.data(), l1.data(), s1.data(), f1.data());
    emu_kernel<act_norm_op>::initialize(d, x.data(), l2.data(), s2.data(), f2.data());
    emu_kernel<act_norm_op>::initialize(d, other.data(), l2.data(), s2.data(), f2.data());  // flag set: no change
    cmp("act_norm loc", l2, l1); cmp("act_norm scale", s2, s1); cmp("act_norm flag", f2, f1, 0);
    std::vector<double> y1(n), y2(n), dx1(n), dx2(n), gl1(d.channels, 0.5), gs1(d.channels, -0.25), gl2 = gl1, gs2 = gs1;
    kernel<act_norm_op, cpu>::forward(d, x.data(), l1.data(), s1.data(), y1.data());
    emu_kernel<act_norm_op>::forward(d, x.data(), l1.data(), s1.data(), y2.data());
    kernel<act_norm_op, cpu>::backward(d, x.data(), l1.data(), s1.data(), dy.data(), dx1.data(), gl1.data(), gs1.data());
    emu_kernel<act_norm_op>::backward(d, x.data(), l1.data(), s1.data(), dy.data(), dx2.data(), gl2.data(), gs2.data());
    cmp("act_norm forward", y2, y1); cmp("act_norm dx", dx2, dx1); cmp("act_norm dloc", gl2, gl1);
    cmp("act_norm dscale", gs2, gs1);
  }
}

// The perceptual loss's ops: max pooling (values, argmax, gathered backward; integer inputs full of ties) and the
// LPIPS feature distance with and without channel weights and a zero feature vector.
void perceptual_cases() {
  for (int k : {2, 3}) for (int s : {1, 2, 3}) for (int p : {0, 1}) {
    if (2 * p > k) continue;
    max_pool2d_dims d{3, 7, 9, k, s, p};
    d.finish();
    auto x = rnd(3 * 63), dy = rnd(3 * d.out_h * d.out_w);
    if (s == 2) for (auto& v : x) v = std::round(v);
    std::vector<double> y1(dy.size()), y2(dy.size()), dx1(x.size()), dx2(x.size());
    std::vector<std::int32_t> a1(dy.size()), a2(dy.size());
    kernel<max_pool2d_op, cpu>::forward(d, x.data(), y1.data(), a1.data());
    emu_kernel<max_pool2d_op>::forward(d, x.data(), y2.data(), a2.data());
    kernel<max_pool2d_op, cpu>::backward(d, dy.data(), a1.data(), dx1.data());
    emu_kernel<max_pool2d_op>::backward(d, dy.data(), a1.data(), dx2.data());
    cmp("max_pool2d forward", y2, y1, 0); cmp("max_pool2d backward", dx2, dx1, 0);
    if (a1 != a2) { ++fails; std::printf("FAIL max_pool2d argmax\n"); }
  }
  const feature_distance_dims d{3, 6, 300};
  auto f0 = rnd(3 * 6 * 300), f1 = rnd(3 * 6 * 300), w = rnd(6);
  for (auto& v : w) v = std::abs(v);
  for (int k = 0; k < 6; ++k) f1[k * 300 + 7] = 0;
  for (const double* wp : {static_cast<const double*>(w.data()), static_cast<const double*>(nullptr)}) {
    std::vector<double> d1(900), d2(900), g1(f1.size()), g2(f1.size());
    kernel<feature_distance_op, cpu>::run(d, f0.data(), f1.data(), wp, d1.data(), g1.data(), 0.5);
    emu_kernel<feature_distance_op>::run(d, f0.data(), f1.data(), wp, d2.data(), g2.data(), 0.5);
    cmp("feature_distance", d2, d1); cmp("feature_distance df1", g2, g1);
  }
}

int main() {
  conv_pool_upsample();
  vq_nearest_cases();
  vq_terms_cases();
  using T = double;
  for (auto d : {group_norm_dims{3, 8, 4, 37}, group_norm_dims{2, 12, 3, 100}, group_norm_dims{2, 6, 6, 25}}) for (bool aff : {true, false}) {
    const auto n = d.batch * d.channels * d.spatial, nb = d.batch * d.groups;
    auto x = rnd(n, 3, 2), w = rnd(d.channels), b = rnd(d.channels), dy = rnd(n), dw = rnd(d.channels), db = rnd(d.channels);
    std::vector<T> y1(n), y2(n), m1(nb), m2(nb), r1(nb), r2(nb), dx1(n), dx2(n), dw1 = dw, dw2 = dw, db1 = db, db2 = db;
    const T* wp = aff ? w.data() : nullptr; const T* bp = aff ? b.data() : nullptr;
    kernel<group_norm_op, cpu>::forward(d, 1e-5, x.data(), wp, bp, y1.data(), m1.data(), r1.data());
    emu_kernel<group_norm_op>::forward(d, 1e-5, x.data(), wp, bp, y2.data(), m2.data(), r2.data());
    cmp("gn y", y2, y1); cmp("gn mean", m2, m1); cmp("gn rstd", r2, r1);
    kernel<group_norm_op, cpu>::backward(d, x.data(), wp, m1.data(), r1.data(), dy.data(), dx1.data(), dw1.data(), db1.data());
    emu_kernel<group_norm_op>::backward(d, x.data(), wp, m1.data(), r1.data(), dy.data(), dx2.data(), dw2.data(), db2.data());
    cmp("gn dx", dx2, dx1); cmp("gn dw", dw2, dw1); cmp("gn db", db2, db1);
  }
  for (auto d : {layer_norm_dims{7, 64}, layer_norm_dims{3, 1000}, layer_norm_dims{5, 1}}) for (bool aff : {true, false}) {
    const auto n = d.rows * d.features;
    auto x = rnd(n, 3, -1.5), w = rnd(d.features), b = rnd(d.features), dy = rnd(n), dw = rnd(d.features), db = rnd(d.features);
    std::vector<T> y1(n), y2(n), m1(d.rows), m2(d.rows), r1(d.rows), r2(d.rows), dx1(n), dx2(n), dw1 = dw, dw2 = dw, db1 = db, db2 = db;
    const T* wp = aff ? w.data() : nullptr; const T* bp = aff ? b.data() : nullptr;
    kernel<layer_norm_op, cpu>::forward(d, 1e-5, x.data(), wp, bp, y1.data(), m1.data(), r1.data());
    emu_kernel<layer_norm_op>::forward(d, 1e-5, x.data(), wp, bp, y2.data(), m2.data(), r2.data());
    cmp("ln y", y2, y1); cmp("ln mean", m2, m1); cmp("ln rstd", r2, r1);
    kernel<layer_norm_op, cpu>::backward(d, x.data(), wp, m1.data(), r1.data(), dy.data(), dx1.data(), dw1.data(), db1.data());
    emu_kernel<layer_norm_op>::backward(d, x.data(), wp, m1.data(), r1.data(), dy.data(), dx2.data(), dw2.data(), db2.data());
    cmp("ln dx", dx2, dx1); cmp("ln dw", dw2, dw1); cmp("ln db", db2, db1);
  }
  for (auto d : {batch_norm_dims{4, 6, 49}, batch_norm_dims{16, 3, 30}, batch_norm_dims{8, 5, 1}}) for (bool tr : {true, false}) {
    const auto n = d.batch * d.channels * d.spatial, C = d.channels;
    auto x = rnd(n, 2, 1), w = rnd(C), b = rnd(C), dy = rnd(n), dw = rnd(C), db = rnd(C), rm = rnd(C), rv = rnd(C, 0.1, 1);
    std::vector<T> y1(n), y2(n), m1(C), m2(C), r1(C), r2(C), dx1(n), dx2(n), dw1 = dw, dw2 = dw, db1 = db, db2 = db, rm1 = rm, rm2 = rm, rv1 = rv, rv2 = rv;
    if (tr) {
      kernel<batch_norm_op, cpu>::forward_train(d, 1e-5, 0.1, x.data(), w.data(), b.data(), y1.data(), m1.data(), r1.data(), rm1.data(), rv1.data());
      emu_kernel<batch_norm_op>::forward_train(d, 1e-5, 0.1, x.data(), w.data(), b.data(), y2.data(), m2.data(), r2.data(), rm2.data(), rv2.data());
      cmp("bn running mean", rm2, rm1); cmp("bn running var", rv2, rv1);
    } else {
      kernel<batch_norm_op, cpu>::forward_eval(d, 1e-5, x.data(), w.data(), b.data(), rm.data(), rv.data(), y1.data(), m1.data(), r1.data());
      emu_kernel<batch_norm_op>::forward_eval(d, 1e-5, x.data(), w.data(), b.data(), rm.data(), rv.data(), y2.data(), m2.data(), r2.data());
    }
    cmp("bn y", y2, y1); cmp("bn mean", m2, m1); cmp("bn rstd", r2, r1);
    kernel<batch_norm_op, cpu>::backward(d, tr, x.data(), w.data(), m1.data(), r1.data(), dy.data(), dx1.data(), dw1.data(), db1.data());
    emu_kernel<batch_norm_op>::backward(d, tr, x.data(), w.data(), m1.data(), r1.data(), dy.data(), dx2.data(), dw2.data(), db2.data());
    cmp("bn dx", dx2, dx1); cmp("bn dw", dw2, dw1); cmp("bn db", db2, db1);
    // The split path (SyncBatchNorm): channel sums, forward with given statistics, backward reduce and elemt.
    std::vector<double> s1(C), s2(C), q1(C), q2(C), center(rnd(C)), var(rnd(C, 0.1, 1));
    kernel<batch_norm_op, cpu>::channel_sums(d, x.data(), center.data(), s1.data(), q1.data());
    emu_kernel<batch_norm_op>::channel_sums(d, x.data(), center.data(), s2.data(), q2.data());
    cmp("bn channel sum", s2, s1); cmp("bn channel sum_sq_dev", q2, q1);
    kernel<batch_norm_op, cpu>::forward_eval(d, 1e-5, x.data(), w.data(), b.data(), center.data(), var.data(), y1.data(), m1.data(), r1.data());
    emu_kernel<batch_norm_op>::forward_eval(d, 1e-5, x.data(), w.data(), b.data(), center.data(), var.data(), y2.data(), m2.data(), r2.data());
    cmp("bn with_stats y", y2, y1); cmp("bn with_stats mean", m2, m1); cmp("bn with_stats rstd", r2, r1);
    kernel<batch_norm_op, cpu>::backward_reduce(d, x.data(), m1.data(), r1.data(), dy.data(), s1.data(), q1.data(), dw1.data(), db1.data());
    emu_kernel<batch_norm_op>::backward_reduce(d, x.data(), m1.data(), r1.data(), dy.data(), s2.data(), q2.data(), dw2.data(), db2.data());
    cmp("bn reduce sum_dy", s2, s1); cmp("bn reduce sum_dy_xhat", q2, q1); cmp("bn reduce dw", dw2, dw1); cmp("bn reduce db", db2, db1);
    kernel<batch_norm_op, cpu>::backward_elemt(d, x.data(), w.data(), m1.data(), r1.data(), dy.data(), center.data(), var.data(), dx1.data());
    emu_kernel<batch_norm_op>::backward_elemt(d, x.data(), w.data(), m1.data(), r1.data(), dy.data(), center.data(), var.data(), dx2.data());
    cmp("bn elemt dx", dx2, dx1);
  }
  for (auto d : {softmax_dims{9, 10}, softmax_dims{3, 1000}, softmax_dims{4, 1}}) {
    const auto n = d.rows * d.cols;
    auto x = rnd(n, 5), dy = rnd(n);
    std::vector<T> y1(n), y2(n), dx1(n), dx2(n);
    kernel<softmax_op, cpu>::softmax_forward(d, x.data(), y1.data()); emu_kernel<softmax_op>::softmax_forward(d, x.data(), y2.data()); cmp("softmax", y2, y1);
    kernel<softmax_op, cpu>::softmax_backward(d, y1.data(), dy.data(), dx1.data()); emu_kernel<softmax_op>::softmax_backward(d, y1.data(), dy.data(), dx2.data()); cmp("softmax bwd", dx2, dx1);
    kernel<softmax_op, cpu>::log_softmax_forward(d, x.data(), y1.data()); emu_kernel<softmax_op>::log_softmax_forward(d, x.data(), y2.data()); cmp("log_softmax", y2, y1);
    kernel<softmax_op, cpu>::log_softmax_backward(d, y1.data(), dy.data(), dx1.data()); emu_kernel<softmax_op>::log_softmax_backward(d, y1.data(), dy.data(), dx2.data()); cmp("log_softmax bwd", dx2, dx1);
    std::vector<T> inplace = x; emu_kernel<softmax_op>::softmax_forward(d, inplace.data(), inplace.data());
    kernel<softmax_op, cpu>::softmax_forward(d, x.data(), y1.data()); cmp("softmax in place", inplace, y1);
  }
  for (std::int64_t n : {1, 255, 256, 257, 3001}) {
    auto x = rnd(n, 3), t = rnd(n, 3);
    auto tp = t; for (auto& e : tp) e = 1 / (1 + std::exp(-e));
    std::vector<T> dx1(n), dx2(n), p1(n), p2(n);
    cmpv("mse", kernel<elementwise_loss_op<losses::MSE>, cpu>::run(losses::MSE{}, n, x.data(), t.data(), 0.5, dx1.data(), p1.data()),
         emu_kernel<elementwise_loss_op<losses::MSE>>::run(losses::MSE{}, n, x.data(), t.data(), 0.5, dx2.data(), p2.data()));
    cmp("mse dx", dx2, dx1); cmp("mse per", p2, p1);
    cmpv("l1", kernel<elementwise_loss_op<losses::L1>, cpu>::run(losses::L1{}, n, x.data(), t.data(), 1.0, dx1.data(), p1.data()),
         emu_kernel<elementwise_loss_op<losses::L1>>::run(losses::L1{}, n, x.data(), t.data(), 1.0, dx2.data(), p2.data()));
    cmp("l1 dx", dx2, dx1); cmp("l1 per", p2, p1);
    cmpv("bce", kernel<elementwise_loss_op<losses::BCEWithLogits>, cpu>::run(losses::BCEWithLogits{}, n, x.data(), tp.data(), 1.0, dx1.data(), p1.data()),
         emu_kernel<elementwise_loss_op<losses::BCEWithLogits>>::run(losses::BCEWithLogits{}, n, x.data(), tp.data(), 1.0, dx2.data(), p2.data()));
    cmp("bce dx", dx2, dx1); cmp("bce per", p2, p1);
  }
  for (auto [rows, classes] : {std::pair<std::int64_t, std::int64_t>{17, 10}, {4, 700}})
    for (auto r : {loss_reduction::none, loss_reduction::mean, loss_reduction::sum}) {
      auto x = rnd(rows * classes, 4);
      std::vector<std::int32_t> t(rows);
      for (std::int64_t i = 0; i < rows; ++i) t[i] = i % 5 == 3 ? -100 : (i * 7 + 3) % classes;
      std::vector<T> dx1(rows * classes), dx2(rows * classes), p1(rows), p2(rows);
      cmpv("ce", kernel<cross_entropy_op, cpu>::run(rows, classes, x.data(), t.data(), -100, r, dx1.data(), p1.data()),
           emu_kernel<cross_entropy_op>::run(rows, classes, x.data(), t.data(), -100, r, dx2.data(), p2.data()));
      cmp("ce dx", dx2, dx1); cmp("ce per", p2, p1);
    }
  {  // optimizers: one step each variant from the same state
    const std::int64_t n = 600;
    for (int v = 0; v < 4; ++v) {
      auto p = rnd(n), g = rnd(n), buf = rnd(n);
      auto p1 = p, p2 = p, b1 = buf, b2 = buf;
      sgd_step_args<T> a; a.n = n; a.grad = g.data(); a.lr = 0.05; a.momentum = v ? 0.9 : 0; a.dampening = 0.1; a.one_minus_dampening = 0.9;
      a.weight_decay = 0.01; a.nesterov = v == 3; a.first_step = v == 2;
      a.param = p1.data(); a.momentum_buffer = v ? b1.data() : nullptr;
      if (v) { if (a.first_step) { if (a.nesterov) detail::sgd_update_host<true, true, true>(a); else detail::sgd_update_host<true, true, false>(a); }
               else { if (a.nesterov) detail::sgd_update_host<true, false, true>(a); else detail::sgd_update_host<true, false, false>(a); } }
      else detail::sgd_update_host<false, false, false>(a);
      a.param = p2.data(); a.momentum_buffer = v ? b2.data() : nullptr;
      emu_kernel<sgd_op>::step(a);
      cmp("sgd p", p2, p1); cmp("sgd buf", b2, b1);
    }
    for (bool ams : {false, true}) {
      auto p = rnd(n), g = rnd(n), m = rnd(n, 0.1), vv = rnd(n, 0.01, 0.05), vm = rnd(n, 0.01, 0.06);
      auto p1 = p, p2 = p, m1 = m, m2 = m, v1 = vv, v2 = vv, x1 = vm, x2 = vm;
      adam_step_args<T> a; a.n = n; a.grad = g.data(); a.beta1 = 0.9; a.beta2 = 0.999; a.eps = 1e-8; a.one_minus_beta1 = 0.1; a.one_minus_beta2 = 0.001;
      a.l2 = 0.1; a.decay_factor = 0.999; a.step_size = 0.01 / 0.19; a.bias_correction2_sqrt = std::sqrt(0.002);
      a.param = p1.data(); a.exp_avg = m1.data(); a.exp_avg_sq = v1.data(); a.max_exp_avg_sq = ams ? x1.data() : nullptr;
      if (ams) detail::adam_update_host<true>(a); else detail::adam_update_host<false>(a);
      a.param = p2.data(); a.exp_avg = m2.data(); a.exp_avg_sq = v2.data(); a.max_exp_avg_sq = ams ? x2.data() : nullptr;
      emu_kernel<adam_op>::step(a);
      cmp("adam p", p2, p1); cmp("adam m", m2, m1); cmp("adam v", v2, v1); cmp("adam vmax", x2, x1);
    }
  }
  vae_policy_cases();
  vqgan_cases();  // its draws from `gen` come after the older cases', leaving their data as it was
  perceptual_cases();  // after it, for the same reason
  std::printf("emulation done, %d failures\n", fails);
  return fails != 0;
}
