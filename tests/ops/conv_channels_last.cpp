// The channels-last column path of the cpu conv2d / conv_transpose2d kernels against the NCHW column path (the
// path the finite-difference and PyTorch parity tests of tests/layers cover), in double, forward and backward, on
// strided, padded, dilated, pointwise and multi-chunk geometries; plus which path each reference layer takes.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "vae/core/rng.hpp"
#include "vae/ops/conv2d.hpp"
#include "vae/ops/conv_transpose2d.hpp"

namespace {

using vae::cpu_detail::conv_path;

std::vector<double> cl_random(std::int64_t n, vae::generator& rng) {
  std::vector<double> v(static_cast<std::size_t>(n));
  rng.fill_normal(v.data(), n, 0.0, 1.0);
  return v;
}

double cl_gap(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(a[i] - b[i]) / std::max(1.0, std::abs(b[i])));
  return worst;
}

// Everything one path produces from the same inputs: y, dx, dw (+= onto a non-zero start), dbias (+=).
struct cl_results {
  std::vector<double> y, dx, dw, dbias;
};

template <class Kernel, class Dims>
cl_results cl_run(const Dims& d, conv_path path, std::int64_t x_size, std::int64_t w_size, std::int64_t y_size,
                      std::uint64_t seed) {
  vae::generator rng(seed);
  const auto x = cl_random(x_size, rng), w = cl_random(w_size, rng), bias = cl_random(d.out_c, rng);
  const auto dy = cl_random(y_size, rng);
  cl_results r;
  r.y.assign(static_cast<std::size_t>(y_size), 0.0);
  r.dx.assign(static_cast<std::size_t>(x_size), 0.0);
  r.dw = cl_random(w_size, rng);  // the kernels accumulate into dw and dbias
  r.dbias = cl_random(d.out_c, rng);
  std::vector<double> scratch(static_cast<std::size_t>(Kernel::scratch_size(d, path)));
  Kernel::forward(d, x.data(), w.data(), bias.data(), r.y.data(), scratch.data(), path);
  Kernel::backward(d, x.data(), w.data(), dy.data(), r.dx.data(), r.dw.data(), r.dbias.data(), scratch.data(), path);
  return r;
}

template <class Kernel, class Dims>
void cl_compare(const std::string& label, const Dims& d, std::int64_t x_size, std::int64_t w_size,
                   std::int64_t y_size) {
  const auto a = cl_run<Kernel>(d, conv_path::columns, x_size, w_size, y_size, 7);
  const auto b = cl_run<Kernel>(d, conv_path::channels_last, x_size, w_size, y_size, 7);
  const double gy = cl_gap(b.y, a.y), gdx = cl_gap(b.dx, a.dx);
  const double gdw = cl_gap(b.dw, a.dw), gdb = cl_gap(b.dbias, a.dbias);
  MESSAGE(label << ": channels-last vs columns, max relative gap y " << gy << ", dx " << gdx << ", dw " << gdw
                << ", dbias " << gdb);
  // Both paths sum the same products in different orders: double rounding only.
  CHECK(gy < 1e-12);
  CHECK(gdx < 1e-12);
  CHECK(gdw < 1e-12);
  CHECK(gdb < 1e-12);
}

// The kernels' plans (cpu_detail::conv2d_plan: NCHW activations, no fusions) for the geometry given.
vae::cpu_detail::conv2d_plan cl_conv(std::int64_t n, std::int64_t ci, std::int64_t h, std::int64_t w, std::int64_t co,
                      std::int64_t k, std::int64_t stride, std::int64_t pad, std::int64_t dil) {
  vae::conv2d_dims d{n, ci, h, w, co, k, k};
  d.stride_h = d.stride_w = stride;
  d.pad_h = d.pad_w = pad;
  d.dil_h = d.dil_w = dil;
  return vae::cpu_detail::conv2d_plan(d.finish());
}

vae::cpu_detail::conv_transpose2d_plan cl_conv_t(std::int64_t n, std::int64_t ci, std::int64_t h, std::int64_t w, std::int64_t co,
                                  std::int64_t k, std::int64_t stride, std::int64_t pad, std::int64_t out_pad,
                                  std::int64_t dil) {
  vae::conv_transpose2d_dims d{n, ci, h, w, co, k, k};
  d.stride_h = d.stride_w = stride;
  d.pad_h = d.pad_w = pad;
  d.out_pad_h = d.out_pad_w = out_pad;
  d.dil_h = d.dil_w = dil;
  return vae::cpu_detail::conv_transpose2d_plan(d.finish());
}

}  // namespace

TEST_CASE("conv2d: the channels-last path equals the NCHW column path") {
  using K = vae::kernel<vae::conv2d_op, vae::cpu>;
  struct named {
    const char* label;
    vae::cpu_detail::conv2d_plan d;
  };
  const named cases[] = {
      {"4x4 s2 p1 (vq-vae conv2)", cl_conv(3, 16, 14, 14, 24, 4, 2, 1, 1)},
      {"3x3 s1 p1", cl_conv(2, 17, 7, 7, 5, 3, 1, 1, 1)},
      {"pointwise 1x1", cl_conv(3, 20, 7, 7, 9, 1, 1, 0, 1)},
      {"1x1 stride 2 (not pointwise)", cl_conv(2, 16, 9, 9, 4, 1, 2, 0, 1)},
      {"3x3 dilation 2, pad 2, non-square", cl_conv(2, 16, 9, 6, 3, 3, 1, 2, 2)},
      {"5x5 s3 p0", cl_conv(2, 3, 11, 13, 4, 5, 3, 0, 1)},
      {"multi-chunk batch (many tasks and rounds)", cl_conv(60, 16, 12, 12, 8, 3, 1, 1, 1)},
  };
  for (const auto& c : cases) {
    const auto& d = c.d;
    cl_compare<K>(c.label, d, d.n * d.in_c * d.in_h * d.in_w, d.out_c * d.in_c * d.k_h * d.k_w,
                     d.n * d.out_c * d.out_h * d.out_w);
  }
}

TEST_CASE("conv_transpose2d: the channels-last path equals the NCHW column path") {
  using K = vae::kernel<vae::conv_transpose2d_op, vae::cpu>;
  struct named {
    const char* label;
    vae::cpu_detail::conv_transpose2d_plan d;
  };
  const named cases[] = {
      {"4x4 s2 p1 (vq-vae decoder)", cl_conv_t(3, 24, 7, 7, 16, 4, 2, 1, 0, 1)},
      {"3x3 s2 p1 output_padding 1", cl_conv_t(2, 5, 6, 5, 18, 3, 2, 1, 1, 1)},
      {"pointwise 1x1", cl_conv_t(3, 7, 6, 6, 16, 1, 1, 0, 0, 1)},
      {"3x3 dilation 2", cl_conv_t(2, 4, 5, 7, 16, 3, 1, 1, 0, 2)},
      {"few output channels", cl_conv_t(2, 6, 5, 5, 2, 4, 2, 1, 0, 1)},
      {"multi-chunk batch", cl_conv_t(50, 8, 8, 8, 16, 4, 2, 1, 0, 1)},
  };
  for (const auto& c : cases) {
    const auto& d = c.d;
    cl_compare<K>(c.label, d, d.n * d.in_c * d.in_h * d.in_w, d.in_c * d.out_c * d.k_h * d.k_w,
                     d.n * d.out_c * d.out_h * d.out_w);
  }
}

TEST_CASE("conv kernels pick channels-last only for groups = 1 and enough channels on the windowed side") {
  using C = vae::kernel<vae::conv2d_op, vae::cpu>;
  using T = vae::kernel<vae::conv_transpose2d_op, vae::cpu>;
  CHECK(C::path_for(cl_conv(8, 64, 14, 14, 128, 3, 2, 1, 1)) == conv_path::channels_last);  // taming's Downsample
  CHECK(C::path_for(cl_conv(8, 64, 14, 14, 128, 4, 2, 1, 1)) == conv_path::channels_last);  // conv-vae's conv2, NCHW
  CHECK(C::path_for(cl_conv(8, 1, 28, 28, 64, 4, 2, 1, 1)) == conv_path::columns);          // first layer: 1 channel
  auto grouped = cl_conv(8, 64, 14, 14, 64, 3, 1, 1, 1);
  grouped.groups = 4;
  CHECK(C::path_for(grouped) == conv_path::columns);
  CHECK(T::path_for(cl_conv_t(8, 128, 7, 7, 64, 4, 2, 1, 0, 1)) == conv_path::channels_last);
  CHECK(T::path_for(cl_conv_t(8, 64, 14, 14, 1, 4, 2, 1, 0, 1)) == conv_path::columns);  // last layer: 1 channel
}

TEST_CASE("transpose_matrix (the channels-last layout changes): float AVX tiles and edges equal the plain loop") {
  vae::generator rng(11);
  const std::int64_t sizes[][2] = {{8, 8}, {16, 49}, {49, 128}, {128, 196}, {3, 5}, {13, 9}, {1, 17}, {64, 1}};
  for (const auto& sz : sizes) {
    const std::int64_t rows = sz[0], cols = sz[1], lds = cols + 3, ldd = rows + 5;
    std::vector<float> src(static_cast<std::size_t>(rows * lds)), dst(static_cast<std::size_t>(cols * ldd), -7.f);
    rng.fill_normal(src.data(), static_cast<std::int64_t>(src.size()), 0.0, 1.0);
    vae::cpu_detail::transpose_matrix(src.data(), rows, cols, lds, dst.data(), ldd);
    std::int64_t wrong = 0, padding_touched = 0;
    for (std::int64_t j = 0; j < cols; ++j) {
      for (std::int64_t i = 0; i < rows; ++i) wrong += dst[j * ldd + i] != src[i * lds + j];
      for (std::int64_t i = rows; i < ldd; ++i) padding_touched += dst[j * ldd + i] != -7.f;
    }
    INFO(rows << "x" << cols);
    CHECK(wrong == 0);
    CHECK(padding_touched == 0);
  }
}

TEST_CASE("conv2d in float: channels-last (AVX transposes) vs columns on the vq-vae layers") {
  auto run_conv = [&](const vae::conv2d_dims& d, conv_path path, std::vector<float>& y, std::vector<float>& dx,
                      std::vector<float>& dw, std::uint64_t seed) {
    using K = vae::kernel<vae::conv2d_op, vae::cpu>;
    vae::generator r(seed);
    std::vector<float> x(static_cast<std::size_t>(d.n * d.in_c * d.in_h * d.in_w)),
        w(static_cast<std::size_t>(d.out_c * d.in_c * d.k_h * d.k_w)), b(static_cast<std::size_t>(d.out_c)),
        dy(static_cast<std::size_t>(d.n * d.out_c * d.out_h * d.out_w));
    for (auto* v : {&x, &w, &b, &dy}) r.fill_normal(v->data(), static_cast<std::int64_t>(v->size()), 0.0, 1.0);
    y.assign(dy.size(), 0.f);
    dx.assign(x.size(), 0.f);
    dw.assign(w.size(), 0.f);
    std::vector<float> scratch(static_cast<std::size_t>(K::scratch_size(d, path)));
    K::forward(d, x.data(), w.data(), b.data(), y.data(), scratch.data(), path);
    K::backward(d, x.data(), w.data(), dy.data(), dx.data(), dw.data(), static_cast<float*>(nullptr), scratch.data(),
                path);
  };
  auto gap = [](const std::vector<float>& a, const std::vector<float>& b) {
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
      worst = std::max(worst, std::abs(double(a[i]) - double(b[i])) / std::max(1.0, std::abs(double(b[i]))));
    return worst;
  };
  for (const auto& d : {cl_conv(6, 64, 14, 14, 128, 4, 2, 1, 1), cl_conv(6, 128, 7, 7, 32, 3, 1, 1, 1),
                        cl_conv(6, 32, 7, 7, 128, 1, 1, 0, 1)}) {
    std::vector<float> y0, dx0, dw0, y1, dx1, dw1;
    run_conv(d, conv_path::columns, y0, dx0, dw0, 3);
    run_conv(d, conv_path::channels_last, y1, dx1, dw1, 3);
    const double gy = gap(y1, y0), gdx = gap(dx1, dx0), gdw = gap(dw1, dw0);
    MESSAGE("float conv2d " << d.in_c << "->" << d.out_c << " k" << d.k_h << ": gaps y " << gy << ", dx " << gdx
                            << ", dw " << gdw);
    // Sums of up to 1024 (y, dx) or 6·196 (dw) float products in different orders.
    CHECK(gy < 1e-4);
    CHECK(gdx < 1e-4);
    CHECK(gdw < 1e-4);
  }
}

namespace {
// [n, c, p] ↔ [n, p, c] on plain vectors (the tests' own loop, independent of the kernels' transposes).
std::vector<double> to_nhwc(const std::vector<double>& v, std::int64_t n, std::int64_t c, std::int64_t p) {
  std::vector<double> r(v.size());
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t t = 0; t < p; ++t) r[static_cast<std::size_t>((b * p + t) * c + ch)] = v[static_cast<std::size_t>((b * c + ch) * p + t)];
  return r;
}
std::vector<double> to_nchw(const std::vector<double>& v, std::int64_t n, std::int64_t c, std::int64_t p) {
  std::vector<double> r(v.size());
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t t = 0; t < p; ++t) r[static_cast<std::size_t>((b * c + ch) * p + t)] = v[static_cast<std::size_t>((b * p + t) * c + ch)];
  return r;
}

// Runs the kernel with channels-last activations on the sides `d` asks for (inputs transposed by the test, outputs
// transposed back) and compares with the NCHW column path (`ref`: the same geometry, no flags) on the same data.
template <class Kernel, class Dims>
void in_place_compare(const std::string& label, Dims d, bool cl_in, bool cl_out, std::int64_t w_size) {
  const std::int64_t ihw = d.in_h * d.in_w, ohw = d.out_h * d.out_w;
  const std::int64_t x_size = d.n * d.in_c * ihw, y_size = d.n * d.out_c * ohw;
  const auto ref = cl_run<Kernel>(d, conv_path::columns, x_size, w_size, y_size, 11);
  vae::generator rng(11);  // the same draws as cl_run: x, w, bias, dy, dw start, dbias start
  const auto x = cl_random(x_size, rng), w = cl_random(w_size, rng), bias = cl_random(d.out_c, rng);
  const auto dy = cl_random(y_size, rng);
  auto dw = cl_random(w_size, rng), dbias = cl_random(d.out_c, rng);
  d.channels_last_in = cl_in;
  d.channels_last_out = cl_out;
  // The kernel's own path: channels-last columns, or the Winograd transforms (which also read and write in place)
  // for a channels-last 3×3 stride-1 / 4×4 stride-2 conv2d.
  const conv_path path = Kernel::path_for(d);
  REQUIRE(path != conv_path::columns);
  const auto xs = cl_in ? to_nhwc(x, d.n, d.in_c, ihw) : x;
  const auto dys = cl_out ? to_nhwc(dy, d.n, d.out_c, ohw) : dy;
  std::vector<double> y(static_cast<std::size_t>(y_size)), dx(static_cast<std::size_t>(x_size), -7.0);
  std::vector<double> scratch(static_cast<std::size_t>(Kernel::scratch_size(d, path)));
  Kernel::forward(d, xs.data(), w.data(), bias.data(), y.data(), scratch.data(), path);
  Kernel::backward(d, xs.data(), w.data(), dys.data(), dx.data(), dw.data(), dbias.data(), scratch.data(), path);
  const auto y_nchw = cl_out ? to_nchw(y, d.n, d.out_c, ohw) : y;
  const auto dx_nchw = cl_in ? to_nchw(dx, d.n, d.in_c, ihw) : dx;
  const double gy = cl_gap(y_nchw, ref.y), gdx = cl_gap(dx_nchw, ref.dx), gdw = cl_gap(dw, ref.dw),
               gdb = cl_gap(dbias, ref.dbias);
  MESSAGE(label << (cl_in ? " [in NHWC]" : " [in NCHW]") << (cl_out ? " [out NHWC]" : " [out NCHW]")
                << std::string(path == conv_path::winograd ? " [Winograd]" : "") << ": max relative gap y " << gy << ", dx " << gdx << ", dw " << gdw << ", dbias " << gdb);
  CHECK(gy < 1e-12);
  CHECK(gdx < 1e-12);
  CHECK(gdw < 1e-12);
  CHECK(gdb < 1e-12);
}
}  // namespace

TEST_CASE("conv2d reads and writes channels-last activations in place: equal to the NCHW path, transposed") {
  using K = vae::kernel<vae::conv2d_op, vae::cpu>;
  struct named {
    const char* label;
    vae::cpu_detail::conv2d_plan d;
  };
  const named cases[] = {
      {"4x4 s2 p1", cl_conv(3, 16, 14, 14, 24, 4, 2, 1, 1)},
      {"3x3 s1 p1 (res block)", cl_conv(2, 17, 7, 7, 5, 3, 1, 1, 1)},
      {"pointwise 1x1", cl_conv(3, 20, 7, 7, 9, 1, 1, 0, 1)},
      {"one input channel (first layer)", cl_conv(4, 1, 12, 12, 16, 4, 2, 1, 1)},
      {"one output channel", cl_conv(2, 6, 8, 8, 1, 3, 1, 1, 1)},
      {"few channels, dilation 2", cl_conv(2, 3, 9, 6, 4, 3, 1, 2, 2)},
      {"multi-chunk batch", cl_conv(60, 16, 12, 12, 8, 3, 1, 1, 1)},
  };
  for (const auto& c : cases)
    for (const bool cl_in : {false, true})
      for (const bool cl_out : {false, true}) {
        if (!cl_in && !cl_out) continue;
        in_place_compare<K>(c.label, c.d, cl_in, cl_out, c.d.out_c * c.d.in_c * c.d.k_h * c.d.k_w);
      }
}

TEST_CASE("conv_transpose2d reads and writes channels-last activations in place: equal to the NCHW path, transposed") {
  using K = vae::kernel<vae::conv_transpose2d_op, vae::cpu>;
  struct named {
    const char* label;
    vae::cpu_detail::conv_transpose2d_plan d;
  };
  const named cases[] = {
      {"4x4 s2 p1", cl_conv_t(3, 24, 7, 7, 16, 4, 2, 1, 0, 1)},
      {"pointwise 1x1", cl_conv_t(3, 7, 6, 6, 16, 1, 1, 0, 0, 1)},
      {"one output channel (last layer)", cl_conv_t(4, 16, 7, 7, 1, 4, 2, 1, 0, 1)},
      {"one input channel, output_padding 1", cl_conv_t(2, 1, 6, 5, 5, 3, 2, 1, 1, 1)},
      {"few channels, dilation 2", cl_conv_t(2, 4, 5, 7, 3, 3, 1, 1, 0, 2)},
      {"multi-chunk batch", cl_conv_t(50, 8, 8, 8, 16, 4, 2, 1, 0, 1)},
  };
  for (const auto& c : cases)
    for (const bool cl_in : {false, true})
      for (const bool cl_out : {false, true}) {
        if (!cl_in && !cl_out) continue;
        in_place_compare<K>(c.label, c.d, cl_in, cl_out, c.d.in_c * c.d.out_c * c.d.k_h * c.d.k_w);
      }
}

TEST_CASE("conv kernels refuse channels-last activations on the column path") {
  using K = vae::kernel<vae::conv2d_op, vae::cpu>;
  auto d = cl_conv(1, 2, 5, 5, 3, 3, 1, 1, 1);
  d.channels_last_out = true;
  std::vector<double> x(50), w(54), y(75), scratch(static_cast<std::size_t>(K::scratch_size(d, conv_path::columns)));
  const double* no_bias = nullptr;
  CHECK_THROWS_WITH_AS(K::forward(d, x.data(), w.data(), no_bias, y.data(), scratch.data(), conv_path::columns),
                       doctest::Contains("channels-last path"), vae::error);
}

namespace {
// relu_out: the kernel's output equals ReLU of the plain output bit for bit, on the given path and layouts.
template <class Kernel, class Dims>
void fused_relu_compare(const std::string& label, Dims d, conv_path path, std::int64_t w_size) {
  const std::int64_t x_size = d.n * d.in_c * d.in_h * d.in_w, y_size = d.n * d.out_c * d.out_h * d.out_w;
  vae::generator rng(13);
  const auto x = cl_random(x_size, rng), w = cl_random(w_size, rng), bias = cl_random(d.out_c, rng);
  std::vector<double> plain(static_cast<std::size_t>(y_size)), fused(plain.size());
  std::vector<double> scratch(static_cast<std::size_t>(Kernel::scratch_size(d, path)));
  Kernel::forward(d, x.data(), w.data(), bias.data(), plain.data(), scratch.data(), path);
  d.relu_out = true;
  Kernel::forward(d, x.data(), w.data(), bias.data(), fused.data(), scratch.data(), path);
  std::int64_t mismatches = 0, zeroed = 0;
  for (std::size_t i = 0; i < plain.size(); ++i) {
    mismatches += fused[i] != (plain[i] > 0 ? plain[i] : 0.0);
    zeroed += plain[i] <= 0;
  }
  INFO(label);
  CHECK(mismatches == 0);
  CHECK(zeroed > 0);  // the case exercises the ReLU
}
}  // namespace

TEST_CASE("conv kernels' fused output ReLU equals ReLU of the output, on every path and layout") {
  using C = vae::kernel<vae::conv2d_op, vae::cpu>;
  using T = vae::kernel<vae::conv_transpose2d_op, vae::cpu>;
  for (const bool cl_out : {false, true}) {
    auto d = cl_conv(3, 16, 9, 9, 20, 3, 2, 1, 1);
    d.channels_last_out = cl_out;
    if (!cl_out) fused_relu_compare<C>("conv2d columns", d, conv_path::columns, 20 * 16 * 9);
    fused_relu_compare<C>(cl_out ? "conv2d channels-last, output in place" : "conv2d channels-last, NCHW output", d,
                          conv_path::channels_last, 20 * 16 * 9);
    auto t = cl_conv_t(3, 12, 5, 5, 16, 4, 2, 1, 0, 1);
    t.channels_last_out = cl_out;
    if (!cl_out) fused_relu_compare<T>("conv_transpose2d columns", t, conv_path::columns, 12 * 16 * 16);
    fused_relu_compare<T>(cl_out ? "conv_transpose2d channels-last, output in place"
                                 : "conv_transpose2d channels-last, NCHW output",
                          t, conv_path::channels_last, 12 * 16 * 16);
  }
}

namespace {
// relu_in (and a residual): the kernel's input gradient equals the plain one masked by relu'(x) (plus
// the residual) bit for bit, on the given path and layouts; dw and dbias are untouched by the fusion. x holds
// exact zeros as well as negatives (relu'(0) = 0, as PyTorch).
template <class Kernel, class Dims>
void fused_relu_grad_compare(const std::string& label, Dims d, conv_path path, std::int64_t w_size, bool residual) {
  const std::int64_t x_size = d.n * d.in_c * d.in_h * d.in_w, y_size = d.n * d.out_c * d.out_h * d.out_w;
  vae::generator rng(17);
  auto x = cl_random(x_size, rng);
  for (std::size_t i = 0; i < x.size(); i += 7) x[i] = 0.0;
  const auto w = cl_random(w_size, rng), dy = cl_random(y_size, rng), res = cl_random(x_size, rng);
  std::vector<double> scratch(static_cast<std::size_t>(Kernel::scratch_size(d, path)));
  std::vector<double> dx_plain(static_cast<std::size_t>(x_size)), dx_fused(dx_plain.size());
  std::vector<double> dw_plain(static_cast<std::size_t>(w_size)), dw_fused(dw_plain.size());
  std::vector<double> db_plain(static_cast<std::size_t>(d.out_c)), db_fused(db_plain.size());
  Kernel::backward(d, x.data(), w.data(), dy.data(), dx_plain.data(), dw_plain.data(), db_plain.data(),
                   scratch.data(), path);
  d.relu_in = true;
  Kernel::backward(d, x.data(), w.data(), dy.data(), dx_fused.data(), dw_fused.data(), db_fused.data(),
                   scratch.data(), path, residual ? res.data() : nullptr);
  std::int64_t mismatches = 0, masked = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double expect = (residual ? res[i] : 0.0) + dx_plain[i] * (x[i] > 0 ? 1.0 : 0.0);
    mismatches += dx_fused[i] != expect;
    masked += x[i] <= 0 && dx_plain[i] != 0;
  }
  INFO(label, residual ? " + residual" : "");
  CHECK(mismatches == 0);
  CHECK(masked > 0);  // the case exercises the mask
  CHECK(dw_fused == dw_plain);
  CHECK(db_fused == db_plain);
}
}  // namespace

TEST_CASE("conv kernels' fused input ReLU gradient equals relu'(x) times the input gradient, on every path and layout") {
  using C = vae::kernel<vae::conv2d_op, vae::cpu>;
  using T = vae::kernel<vae::conv_transpose2d_op, vae::cpu>;
  for (const bool cl_in : {false, true})
    for (const bool residual : {false, true}) {
      auto d = cl_conv(3, 16, 9, 9, 20, 3, 2, 1, 1);
      d.channels_last_in = cl_in;
      if (!cl_in) fused_relu_grad_compare<C>("conv2d columns", d, conv_path::columns, 20 * 16 * 9, residual);
      fused_relu_grad_compare<C>(cl_in ? "conv2d channels-last, input in place" : "conv2d channels-last, NCHW input",
                                 d, conv_path::channels_last, 20 * 16 * 9, residual);
      auto p = cl_conv(3, 32, 7, 7, 16, 1, 1, 0, 1);  // a residual block's c2 (pointwise: dx written by the GEMM)
      p.channels_last_in = p.channels_last_out = cl_in;
      fused_relu_grad_compare<C>(cl_in ? "conv2d pointwise, channels-last" : "conv2d pointwise, NCHW", p,
                                 conv_path::channels_last, 16 * 32, residual);
      auto t = cl_conv_t(3, 12, 5, 5, 16, 4, 2, 1, 0, 1);
      t.channels_last_in = cl_in;
      if (!cl_in)
        fused_relu_grad_compare<T>("conv_transpose2d columns", t, conv_path::columns, 12 * 16 * 16, residual);
      fused_relu_grad_compare<T>(cl_in ? "conv_transpose2d channels-last, input in place"
                                       : "conv_transpose2d channels-last, NCHW input",
                                 t, conv_path::channels_last, 12 * 16 * 16, residual);
    }
}
