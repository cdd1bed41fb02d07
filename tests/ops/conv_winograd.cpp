// The Winograd path of the cpu conv2d kernel (F(2×2, 3×3) for 3×3 stride 1, F(2×2, 2×2) over the phases of 4×4
// stride 2): against the direct channels-last path in double (forward,
// fused ReLU / residual, backward with the fused input ReLU and skip gradient), its gradients against central finite
// differences of its own forward, float against double, which convolutions take it, and the refusal of others.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "vae/core/rng.hpp"
#include "vae/ops/conv2d.hpp"
#include "vae/ops/conv_transpose2d.hpp"
#include "vae/testing/gradcheck.hpp"

namespace conv_winograd_test {

using vae::cpu_detail::conv_path;
using K = vae::kernel<vae::conv2d_op, vae::cpu>;
using KT = vae::kernel<vae::conv_transpose2d_op, vae::cpu>;

template <class T>
std::vector<T> random_values(std::int64_t n, vae::generator& rng) {
  std::vector<double> v(static_cast<std::size_t>(n));
  rng.fill_normal(v.data(), n, 0.0, 1.0);
  return std::vector<T>(v.begin(), v.end());
}

// max |a − b| / max(1, |b|)
template <class T, class U>
double gap(const std::vector<T>& a, const std::vector<U>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(double(a[i]) - double(b[i])) / std::max(1.0, std::abs(double(b[i]))));
  return worst;
}

// A 3×3, stride-1, padding-1 convolution over channels-last images.
vae::cpu_detail::conv2d_plan same_conv(std::int64_t n, std::int64_t ci, std::int64_t h, std::int64_t w, std::int64_t co) {
  vae::conv2d_dims d{n, ci, h, w, co, 3, 3};
  d.pad_h = d.pad_w = 1;
  return {d.finish(), vae::memory_format::channels_last};
}
// A 4×4, stride-2, padding-1 convolution over channels-last images (the vq-vae encoder's downsampling conv).
vae::cpu_detail::conv2d_plan down_conv(std::int64_t n, std::int64_t ci, std::int64_t h, std::int64_t w, std::int64_t co) {
  vae::conv2d_dims d{n, ci, h, w, co, 4, 4};
  d.stride_h = d.stride_w = 2;
  d.pad_h = d.pad_w = 1;
  return {d.finish(), vae::memory_format::channels_last};
}

template <class T>
struct inputs {
  std::vector<T> x, w, bias, dy, residual, dx_residual;
};
template <class T>
inputs<T> draw(const vae::conv2d_dims& d, std::uint64_t seed) {
  vae::generator rng(seed);
  inputs<T> in;
  in.x = random_values<T>(d.n * d.in_h * d.in_w * d.in_c, rng);
  in.w = random_values<T>(d.out_c * d.in_c * d.k_h * d.k_w, rng);
  in.bias = random_values<T>(d.out_c, rng);
  in.dy = random_values<T>(d.n * d.out_h * d.out_w * d.out_c, rng);
  in.residual = random_values<T>(d.n * d.out_h * d.out_w * d.out_c, rng);
  in.dx_residual = random_values<T>(d.n * d.in_h * d.in_w * d.in_c, rng);
  return in;
}

template <class T>
struct outputs {
  std::vector<T> y, dx, dw, dbias;
};
// Forward (with residual when `add`), then backward onto dw/dbias that start at 0.5 (the kernels accumulate), with
// the skip gradient when `add`.
template <class T>
outputs<T> run(const vae::cpu_detail::conv2d_plan& d, conv_path path, const inputs<T>& in, bool add) {
  outputs<T> o;
  o.y.assign(in.dy.size(), T(0));
  o.dx.assign(in.x.size(), T(0));
  o.dw.assign(in.w.size(), T(0.5));
  o.dbias.assign(in.bias.size(), T(0.5));
  std::vector<T> scratch(static_cast<std::size_t>(K::scratch_size(d, path)));
  K::forward(d, in.x.data(), in.w.data(), in.bias.data(), o.y.data(), scratch.data(), path,
             add ? in.residual.data() : nullptr);
  K::backward(d, in.x.data(), in.w.data(), in.dy.data(), o.dx.data(), o.dw.data(), o.dbias.data(), scratch.data(),
              path, add ? in.dx_residual.data() : nullptr);
  return o;
}

// A channels-last transposed convolution, kernel k, stride, padding 1.
vae::cpu_detail::conv_transpose2d_plan up_conv(std::int64_t n, std::int64_t ci, std::int64_t h, std::int64_t w,
                                               std::int64_t co, std::int64_t k, std::int64_t stride) {
  vae::conv_transpose2d_dims d{n, ci, h, w, co, k, k};
  d.stride_h = d.stride_w = stride;
  d.pad_h = d.pad_w = 1;
  return {d.finish(), vae::memory_format::channels_last};
}
// conv_transpose2d forward, then backward (dw/dbias start at 0.5), on one path.
template <class T>
outputs<T> run_t(const vae::cpu_detail::conv_transpose2d_plan& d, conv_path path, std::uint64_t seed) {
  vae::generator rng(seed);
  const auto x = random_values<T>(d.n * d.in_h * d.in_w * d.in_c, rng);
  const auto w = random_values<T>(d.in_c * d.out_c * d.k_h * d.k_w, rng);
  const auto bias = random_values<T>(d.out_c, rng);
  const auto dy = random_values<T>(d.n * d.out_h * d.out_w * d.out_c, rng);
  outputs<T> o;
  o.y.assign(dy.size(), T(0));
  o.dx.assign(x.size(), T(0));
  o.dw.assign(w.size(), T(0.5));
  o.dbias.assign(bias.size(), T(0.5));
  std::vector<T> scratch(static_cast<std::size_t>(KT::scratch_size(d, path)));
  KT::forward(d, x.data(), w.data(), bias.data(), o.y.data(), scratch.data(), path);
  KT::backward(d, x.data(), w.data(), dy.data(), o.dx.data(), o.dw.data(), o.dbias.data(), scratch.data(), path);
  return o;
}

// The Winograd results against the direct path's (double): the transforms' ½ factors and the sums' order change only
// the rounding, double rounding of sums of a few hundred terms of size ~10.
void check_same(const std::string& what, const outputs<double>& wino, const std::vector<double>& y,
                const std::vector<double>& dx, const std::vector<double>& dw, const std::vector<double>& dbias) {
  const double gy = gap(wino.y, y), gdx = gap(wino.dx, dx), gdw = gap(wino.dw, dw), gdb = gap(wino.dbias, dbias);
  MESSAGE(what << ": Winograd vs direct, max relative gap y " << gy << ", dx " << gdx << ", dw " << gdw << ", dbias "
               << gdb);
  CHECK(gy < 1e-12);
  CHECK(gdx < 1e-12);
  CHECK(gdw < 1e-12);
  CHECK(gdb < 1e-12);
}

// p's gradient g = ∂loss/∂p against central differences (step 1e-5) at p.size()/7 spread entries, through the
// library's checker: |g − fd| ≤ 5e-8·(1 + max(|g|, |fd|)), at least as strict as a relative gap of 1e-7 to max(1, |g|).
template <class Loss>
void check_fd(const char* name, Loss&& loss, std::vector<double>& p, const std::vector<double>& g) {
  vae::testing::gradcheck_options opt;
  opt.eps = 1e-5;
  opt.atol = opt.rtol = 5e-8;
  opt.max_checks_per_tensor = static_cast<std::int64_t>(p.size() + 6) / 7;
  vae::testing::gradcheck_report report;
  vae::testing::check_gradient(loss, p.data(), g.data(), static_cast<std::int64_t>(p.size()), name, opt, report);
  MESSAGE(std::string(name) << " vs finite differences: " << report.summary());
  CHECK(report.ok);
  CHECK(report.checked == opt.max_checks_per_tensor);
}

}  // namespace conv_winograd_test

using namespace conv_winograd_test;

TEST_CASE("conv2d Winograd path: the same convolution as the direct path (double)") {
  struct named {
    const char* label;
    vae::cpu_detail::conv2d_plan d;
  };
  const named cases[] = {
      {"7x7 128->32 (vq-vae residual c1; odd side: half-outside tiles)", same_conv(3, 128, 7, 7, 32)},
      {"7x7 32->128", same_conv(2, 32, 7, 7, 128)},
      {"8x6 16->24 (even sides)", same_conv(2, 16, 8, 6, 24)},
      {"5x9 20->17 (channel counts off the vector width)", same_conv(2, 20, 5, 9, 17)},
      {"1x1 image (every tap but the centre on padding)", same_conv(3, 16, 1, 1, 16)},
      {"multi-chunk batch (many tasks and rounds)", same_conv(40, 16, 12, 12, 16)},
      {"4x4 s2 14x14 64->128 (vq-vae conv2; 7x7 output)", down_conv(3, 64, 14, 14, 128)},
      {"4x4 s2 8x8 20->16 (even output)", down_conv(2, 20, 8, 8, 16)},
      {"4x4 s2 9x7 16->17 (odd input, non-square)", down_conv(2, 16, 9, 7, 17)},
      {"4x4 s2 multi-chunk batch", down_conv(30, 16, 10, 10, 16)},
  };
  for (const auto& c : cases) {
    for (const bool relu : {false, true}) {
      for (const bool add : {false, true}) {
       for (const bool nchw : {false, true}) {  // NCHW: through the kernel's channels-last copies
        if (relu && add) continue;  // a fused ReLU and a fused residual together are refused by every path
        auto d = c.d;
        d.relu_out = relu;
        d.relu_in = relu;
        d.channels_last_in = d.channels_last_out = !nchw;
        const auto in = draw<double>(d, 11);
        const auto direct = run(d, conv_path::channels_last, in, false);
        const auto wino = run(d, conv_path::winograd, in, add);
        auto y_ref = direct.y, dx_ref = direct.dx;
        if (add) {  // the direct path's values, then the residuals added as the fused kernel adds them
          for (std::size_t i = 0; i < y_ref.size(); ++i) y_ref[i] = in.residual[i] + y_ref[i];
          for (std::size_t i = 0; i < dx_ref.size(); ++i) dx_ref[i] = in.dx_residual[i] + dx_ref[i];
        }
        check_same(std::string(c.label) + (relu ? ", ReLU in and out" : "") + (add ? ", residuals" : "") +
                       (nchw ? ", NCHW" : ""),
                   wino, y_ref, dx_ref, direct.dw, direct.dbias);
       }
      }
    }
  }
}

TEST_CASE("conv2d Winograd path: gradients match central finite differences of its forward (double)") {
  auto nchw = [](vae::cpu_detail::conv2d_plan d) {
    d.channels_last_in = d.channels_last_out = false;
    return d;
  };
  for (const auto& d : {same_conv(2, 16, 5, 4, 16), down_conv(2, 16, 7, 6, 16), nchw(same_conv(2, 16, 5, 4, 16)),
                        nchw(down_conv(2, 16, 7, 6, 16))}) {
    CAPTURE(d.k_h);
    CAPTURE(d.channels_last_in);
    auto in = draw<double>(d, 5);
    std::vector<double> scratch(static_cast<std::size_t>(K::scratch_size(d, conv_path::winograd)));
    // L = Σ dy ⊙ y(x, w, bias): its gradients are the kernel's backward with that dy.
    auto loss = [&]() {
      std::vector<double> y(in.dy.size());
      K::forward(d, in.x.data(), in.w.data(), in.bias.data(), y.data(), scratch.data(), conv_path::winograd);
      double s = 0;
      for (std::size_t i = 0; i < y.size(); ++i) s += in.dy[i] * y[i];
      return s;
    };
    std::vector<double> dx(in.x.size(), 0.0), dw(in.w.size(), 0.0), db(in.bias.size(), 0.0);
    K::backward(d, in.x.data(), in.w.data(), in.dy.data(), dx.data(), dw.data(), db.data(), scratch.data(),
                conv_path::winograd);
    check_fd("dx", loss, in.x, dx);
    check_fd("dw", loss, in.w, dw);
    check_fd("dbias", loss, in.bias, db);
  }
}

TEST_CASE("conv2d Winograd path in float: within float accumulation error of the double convolution") {
  // Channel counts off the vector widths (20, 17) take the masked loads of the last few channels.
  for (const auto& d : {same_conv(4, 128, 7, 7, 32), down_conv(4, 64, 14, 14, 128), same_conv(3, 20, 7, 6, 17),
                        down_conv(3, 17, 9, 8, 20)}) {
  const auto ind = draw<double>(d, 3);
  auto to_float = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
  auto to_double = [](const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); };
  inputs<float> inf;
  inf.x = to_float(ind.x), inf.w = to_float(ind.w), inf.bias = to_float(ind.bias), inf.dy = to_float(ind.dy);
  inputs<double> same;  // the reference: the direct path in double on the float-rounded inputs
  same.x = to_double(inf.x), same.w = to_double(inf.w), same.bias = to_double(inf.bias), same.dy = to_double(inf.dy);
  const auto ref = run(d, conv_path::channels_last, same, false);
  const auto wino = run(d, conv_path::winograd, inf, false);
  const auto direct = run(d, conv_path::channels_last, inf, false);
  auto abs_err = [](const std::vector<float>& a, const std::vector<double>& b) {
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(double(a[i]) - b[i]));
    return worst;
  };
  // Float accumulation over K unit-normal products against double: a few ε·K·√K at most (the bound of the stride-1
  // windows test in conv_channels_last.cpp), K = in_c·k² for y, out_c·k² for dx, n·out_h·out_w for dw.
  auto bound = [](double k) { return 8 * 1.2e-7 * k * std::sqrt(k); };
  const double ey = abs_err(wino.y, ref.y), edx = abs_err(wino.dx, ref.dx), edw = abs_err(wino.dw, ref.dw);
  MESSAGE("float vs double, max abs err: Winograd y " << ey << ", dx " << edx << ", dw " << edw << "; direct y "
                                                      << abs_err(direct.y, ref.y) << ", dx "
                                                      << abs_err(direct.dx, ref.dx) << ", dw "
                                                      << abs_err(direct.dw, ref.dw));
  CHECK(ey < bound(double(d.k_h * d.k_w * d.in_c)));
  CHECK(edx < bound(double(d.k_h * d.k_w * d.out_c)));
  CHECK(edw < bound(double(d.n * d.out_h * d.out_w)));
  }
}

TEST_CASE("conv2d takes the Winograd path only for 3x3 stride-1 / 4x4 stride-2 padding-1 convolutions") {
  CHECK(K::path_for(same_conv(8, 128, 7, 7, 32)) == conv_path::winograd);    // vq-vae residual c1
  CHECK(K::path_for(down_conv(8, 64, 14, 14, 128)) == conv_path::winograd);  // vq-vae conv2
  // The path of the vq-vae c1 / conv2 geometry with one thing changed.
  auto path_of = [](vae::cpu_detail::conv2d_plan d, auto&& change) {
    change(d);
    d.finish();
    return K::path_for(d);
  };
  const auto c1 = same_conv(8, 128, 7, 7, 32), conv2 = down_conv(8, 64, 14, 14, 128);
  CHECK(path_of(c1, [](auto& d) { d.winograd = false; }) == conv_path::channels_last);  // the tests' opt-out
  CHECK(path_of(conv2, [](auto& d) { d.pad_h = d.pad_w = 2; }) == conv_path::channels_last);
  // NCHW activations as well for 3×3 stride 1 (through channels-last copies), not for 4×4 stride 2 (the kernel
  // computes it when asked, as the cases above check); conv_transpose2d keeps Winograd to channels-last ones.
  CHECK(path_of(c1, [](auto& d) { d.channels_last_in = d.channels_last_out = false; }) == conv_path::winograd);
  CHECK(path_of(conv2, [](auto& d) { d.channels_last_in = d.channels_last_out = false; }) == conv_path::channels_last);
  auto up = up_conv(8, 64, 7, 7, 32, 3, 1);
  CHECK(KT::path_for(up) == conv_path::winograd);
  up.channels_last_in = up.channels_last_out = false;
  CHECK(KT::path_for(up) != conv_path::winograd);
  CHECK(path_of(c1, [](auto& d) { d.stride_h = d.stride_w = 2; }) == conv_path::channels_last);
  CHECK(path_of(c1, [](auto& d) { d.dil_h = d.dil_w = d.pad_h = d.pad_w = 2; }) == conv_path::channels_last);
  CHECK(K::path_for(same_conv(8, 3, 7, 7, 32)) == conv_path::channels_last);  // too few input channels
  CHECK(K::path_for(same_conv(8, 32, 7, 7, 3)) == conv_path::channels_last);  // too few output channels

  auto strided = c1;
  strided.stride_h = strided.stride_w = 2;
  strided.finish();
  std::vector<double> x(8 * 128 * 49), w(32 * 128 * 9), y(8 * 32 * 49);
  std::vector<double> scratch(static_cast<std::size_t>(K::scratch_size(strided, conv_path::channels_last)));
  CHECK_THROWS_WITH_AS(K::forward(strided, x.data(), w.data(), static_cast<const double*>(nullptr), y.data(),
                                  scratch.data(), conv_path::winograd),
                       doctest::Contains("the Winograd path needs a 3x3 stride-1 or 4x4 stride-2 kernel, padding 1"),
                       vae::error);
}

TEST_CASE("conv_transpose2d Winograd path: the same transposed convolution as the direct path (double)") {
  struct named {
    const char* label;
    vae::cpu_detail::conv_transpose2d_plan d;
  };
  const named cases[] = {
      {"4x4 s2 7x7 -> 14x14, 128->64 (vq-vae decoder)", up_conv(2, 128, 7, 7, 64, 4, 2)},
      {"4x4 s2 5x4 -> 10x8, 16->20", up_conv(2, 16, 5, 4, 20, 4, 2)},
      {"3x3 s1 6x5, 20->16", up_conv(2, 20, 6, 5, 16, 3, 1)},
      {"4x4 s2 multi-chunk batch", up_conv(30, 16, 4, 4, 16, 4, 2)},
  };
  for (const auto& c : cases) {
    for (const bool relu : {false, true}) {
      auto d = c.d;
      d.relu_out = relu;
      d.relu_in = relu;
      REQUIRE(KT::path_for(d) == conv_path::winograd);
      const auto direct = run_t<double>(d, conv_path::channels_last, 17);
      const auto wino = run_t<double>(d, conv_path::winograd, 17);
      check_same(std::string(c.label) + (relu ? ", ReLU in and out" : ""), wino, direct.y, direct.dx, direct.dw,
                 direct.dbias);
    }
  }
}

TEST_CASE("conv_transpose2d Winograd path: gradients match central finite differences of its forward (double)") {
  const auto d = up_conv(2, 16, 4, 3, 16, 4, 2);
  vae::generator rng(9);
  auto x = random_values<double>(d.n * d.in_h * d.in_w * d.in_c, rng);
  auto w = random_values<double>(d.in_c * d.out_c * 16, rng);
  auto bias = random_values<double>(d.out_c, rng);
  const auto dy = random_values<double>(d.n * d.out_h * d.out_w * d.out_c, rng);
  std::vector<double> scratch(static_cast<std::size_t>(KT::scratch_size(d, conv_path::winograd)));
  auto loss = [&]() {
    std::vector<double> y(dy.size());
    KT::forward(d, x.data(), w.data(), bias.data(), y.data(), scratch.data(), conv_path::winograd);
    double s = 0;
    for (std::size_t i = 0; i < y.size(); ++i) s += dy[i] * y[i];
    return s;
  };
  std::vector<double> dx(x.size(), 0.0), dw(w.size(), 0.0), db(bias.size(), 0.0);
  KT::backward(d, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(), scratch.data(), conv_path::winograd);
  check_fd("dx", loss, x, dx);
  check_fd("dw", loss, w, dw);
  check_fd("dbias", loss, bias, db);
}

TEST_CASE("conv_transpose2d takes the Winograd path only where its adjoint conv2d does and maps back exactly") {
  CHECK(KT::path_for(up_conv(8, 128, 7, 7, 64, 4, 2)) == conv_path::winograd);  // vq-vae decoder convT1
  auto opted_out = up_conv(8, 128, 7, 7, 64, 4, 2);
  opted_out.winograd = false;  // the tests' opt-out
  CHECK(KT::path_for(opted_out) == conv_path::channels_last);
  CHECK(KT::path_for(up_conv(8, 64, 14, 14, 1, 4, 2)) != conv_path::winograd);  // its last layer: 1 channel
  auto out_pad = up_conv(8, 32, 7, 7, 32, 4, 2);
  out_pad.out_pad_h = out_pad.out_pad_w = 1;
  out_pad.finish();
  CHECK(KT::path_for(out_pad) == conv_path::channels_last);
  auto nchw = up_conv(8, 128, 7, 7, 64, 4, 2);
  nchw.channels_last_in = nchw.channels_last_out = false;
  CHECK(KT::path_for(nchw) == conv_path::channels_last);
}
