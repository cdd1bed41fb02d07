// The fused host ops against the plain ops they fuse, in double: linear_relu_forward = linear then ReLU,
// linear_backward_writing = linear_backward into zeroed gradients (overwrite) or into the old ones (add), conv2d_forward
// with a residual epilogue = conv2d then + residual, conv2d_backward with a residual = conv2d_backward then + residual.
// Each fusion computes the same products in the same order and adds in its epilogue, so the comparisons are bit for
// bit. (linear_forward_from_panels, float only, is tested with the layer: tests/layers/linear.cpp.)
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../test_support.hpp"
#include "vae/ops/conv2d.hpp"
#include "vae/ops/linear.hpp"

using namespace vae;

namespace fused_test {

std::vector<double> randn(std::int64_t n, generator& rng) {
  std::vector<double> v(static_cast<std::size_t>(n));
  rng.fill_normal(v.data(), n);
  return v;
}

// Number of positions where a and b differ (bitwise equality of doubles; NaN counts as differing).
std::int64_t mismatches(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  std::int64_t m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m += !(a[i] == b[i]);
  return m;
}

}  // namespace fused_test

TEST_CASE("linear_relu_forward equals linear_forward then max(., 0), bit for bit (double)") {
  using namespace fused_test;
  generator rng(1);
  for (const linear_dims d : {linear_dims{5, 7, 3}, linear_dims{64, 33, 17}}) {
    const auto x = randn(d.rows * d.in, rng), w = randn(d.out * d.in, rng), b = randn(d.out, rng);
    std::vector<double> plain(static_cast<std::size_t>(d.rows * d.out)), fused(plain.size(), std::nan(""));
    ops::linear_forward<cpu>(d, x.data(), w.data(), b.data(), plain.data());
    const auto negatives = std::count_if(plain.begin(), plain.end(), [](double v) { return v < 0; });
    for (auto& v : plain) v = std::max(v, 0.0);
    ops::linear_relu_forward<cpu>(d, x.data(), w.data(), b.data(), fused.data());
    CAPTURE(d.rows);
    CHECK(negatives > 0);  // the ReLU had something to clamp
    CHECK(mismatches(plain, fused) == 0);
  }
}

TEST_CASE("linear_backward_writing: overwrite = backward into zeros (old values never read); add = linear_backward") {
  using namespace fused_test;
  generator rng(3);
  const linear_dims d{6, 11, 5};
  const auto x = randn(d.rows * d.in, rng), w = randn(d.out * d.in, rng), dy = randn(d.rows * d.out, rng);
  const auto old_dw = randn(d.out * d.in, rng), old_db = randn(d.out, rng);
  const std::size_t nx = static_cast<std::size_t>(d.rows * d.in);

  std::vector<double> dx0(nx), dw0(old_dw.size(), 0.0), db0(old_db.size(), 0.0);
  ops::linear_backward<cpu>(d, x.data(), w.data(), dy.data(), dx0.data(), dw0.data(), db0.data());
  std::vector<double> dx1(nx), dw1(old_dw.size(), std::nan("")), db1(old_db.size(), std::nan(""));
  ops::linear_backward_writing<cpu>(d, x.data(), w.data(), dy.data(), dx1.data(), dw1.data(), db1.data(), true, true);
  CHECK(mismatches(dx0, dx1) == 0);
  CHECK(mismatches(dw0, dw1) == 0);
  CHECK(mismatches(db0, db1) == 0);

  std::vector<double> dx2(nx), dw2 = old_dw, db2 = old_db;
  ops::linear_backward<cpu>(d, x.data(), w.data(), dy.data(), dx2.data(), dw2.data(), db2.data());
  std::vector<double> dx3(nx), dw3 = old_dw, db3 = old_db;
  ops::linear_backward_writing<cpu>(d, x.data(), w.data(), dy.data(), dx3.data(), dw3.data(), db3.data(), false, false);
  CHECK(mismatches(dx2, dx3) == 0);
  CHECK(mismatches(dw2, dw3) == 0);
  CHECK(mismatches(db2, db3) == 0);
  CHECK(mismatches(dw2, dw0) > 0);  // adding to the old values differs from writing: the two modes are told apart

  // Mixed: the weight written, the bias added.
  std::vector<double> dx4(nx), dw4(old_dw.size(), std::nan("")), db4 = old_db;
  ops::linear_backward_writing<cpu>(d, x.data(), w.data(), dy.data(), dx4.data(), dw4.data(), db4.data(), true, false);
  CHECK(mismatches(dw0, dw4) == 0);
  CHECK(mismatches(db2, db4) == 0);
}

TEST_CASE("conv2d_forward / conv2d_backward with a residual equal the plain op then + residual, bit for bit") {
  using namespace fused_test;
  generator rng(4);
  const auto make = [](std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, std::int64_t oc, std::int64_t k,
                       std::int64_t stride, std::int64_t pad, std::int64_t groups) {
    conv2d_dims d;
    d.n = n;
    d.in_c = c;
    d.in_h = h;
    d.in_w = w;
    d.out_c = oc;
    d.k_h = d.k_w = k;
    d.stride_h = d.stride_w = stride;
    d.pad_h = d.pad_w = pad;
    d.groups = groups;
    return d.finish();
  };
  // A residual block's 3x3 same-size conv, a strided 4x4, a grouped 1x1 (residual shapes: y's, then x's).
  for (auto d : {make(2, 4, 6, 5, 4, 3, 1, 1, 1), make(2, 3, 8, 8, 5, 4, 2, 1, 1), make(1, 6, 4, 4, 6, 1, 1, 0, 3)}) {
    CAPTURE(d.k_h);
    const std::int64_t nx = d.n * d.in_c * d.in_h * d.in_w, ny = d.n * d.out_c * d.out_h * d.out_w;
    const auto x = randn(nx, rng), w = randn(d.out_c * (d.in_c / d.groups) * d.k_h * d.k_w, rng), b = randn(d.out_c, rng);
    const auto res_y = randn(ny, rng), res_x = randn(nx, rng), dy = randn(ny, rng);
    std::vector<double> scratch(static_cast<std::size_t>(std::max<std::int64_t>(ops::conv2d_scratch_size<cpu>(d), 1)));

    std::vector<double> plain(static_cast<std::size_t>(ny)), fused(plain.size(), std::nan(""));
    ops::conv2d_forward<cpu>(d, x.data(), w.data(), b.data(), plain.data(), scratch.data());
    for (std::int64_t i = 0; i < ny; ++i) plain[i] = res_y[i] + plain[i];
    ops::conv2d_forward<cpu>(d, x.data(), w.data(), b.data(), fused.data(), scratch.data(), memory_format::channels_first,
                             conv_output<double>{.residual = res_y.data()});
    CHECK(mismatches(plain, fused) == 0);

    std::vector<double> dx0(static_cast<std::size_t>(nx)), dw0(w.size(), 0.0), db0(b.size(), 0.0);
    ops::conv2d_backward<cpu>(d, x.data(), w.data(), dy.data(), dx0.data(), dw0.data(), db0.data(), scratch.data());
    for (std::int64_t i = 0; i < nx; ++i) dx0[i] = res_x[i] + dx0[i];
    std::vector<double> dx1(dx0.size(), std::nan("")), dw1(w.size(), 0.0), db1(b.size(), 0.0);
    ops::conv2d_backward<cpu>(d, x.data(), w.data(), dy.data(), dx1.data(), dw1.data(), db1.data(), scratch.data(),
                              memory_format::channels_first, conv_input_grad<double>{.residual = res_x.data()});
    CHECK(mismatches(dx0, dx1) == 0);
    CHECK(mismatches(dw0, dw1) == 0);
    CHECK(mismatches(db0, db1) == 0);
  }
}
