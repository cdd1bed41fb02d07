// Gradient checks on the device: each differentiable cuda op's backward against central differences of its forward,
// in double.
//
// Every cuda kernel of these ops is a template on the scalar (cuBLAS Dgemm for double), so all of them run in double
// here: none is left out for lack of double support. The forward runs on the device for every evaluation (the host
// keeps the values that testing::check_gradient perturbs, and each evaluation uploads them); only the final Σ y·r
// (or the loss value the op returns) is taken on the host. The analytic gradients are the device backward's
// output. Shapes are small: a check is at most 96 spread entries per tensor (gradcheck_options).
#include "vae/backend/cuda/activations.cuh"
#include "vae/backend/cuda/avg_pool2d.cuh"
#include "vae/backend/cuda/batch_norm.cuh"
#include "vae/backend/cuda/conv2d.cuh"
#include "vae/backend/cuda/conv_transpose2d.cuh"
#include "vae/backend/cuda/group_norm.cuh"
#include "vae/backend/cuda/layer_norm.cuh"
#include "vae/backend/cuda/linear.cuh"
#include "vae/backend/cuda/losses.cuh"
#include "vae/backend/cuda/softmax.cuh"
#include "vae/backend/cuda/upsample.cuh"

#include <cmath>
#include <functional>
#include <string>

#include "cuda_test_support.cuh"
#include "vae/testing/gradcheck.hpp"

using namespace vae;
using cuda_test::random_tensor;

namespace {

using host_t = tensor<double>;
using device_t = tensor<double, cuda>;

// Collects the checks of one op and reports them together.
struct device_gradcheck {
  std::string op;
  testing::gradcheck_options opt{};
  testing::gradcheck_report report{};
  std::int64_t expected = 0;  // derivatives the calls asked for: every value, up to opt.max_checks_per_tensor each

  // d loss / d values (host copies; loss() uploads them) against `analytic`, the device backward's output. An
  // all-zero analytic gradient fails: it would agree with a forward that ignores its input.
  void check(const std::function<double()>& loss, host_t& values, const host_t& analytic, const std::string& name) {
    REQUIRE(values.numel() == analytic.numel());
    double largest = 0;
    for (std::int64_t i = 0; i < analytic.numel(); ++i) largest = std::max(largest, std::abs(analytic[i]));
    CHECK_MESSAGE(largest > 0, op << " " << name << ": the device backward gave an all-zero gradient");
    testing::check_gradient(loss, values.data(), analytic.data(), values.numel(), name, opt, report);
    expected += std::min(values.numel(), opt.max_checks_per_tensor);
  }
  void finish() const {
    MESSAGE(op << " on cuda, double: " << report.summary());
    CHECK_MESSAGE(report.ok, op << ": " << report.summary());
    CHECK(report.checked == expected);
    CHECK(expected > 0);
  }
};

// Σ y ⊙ r with y on the device (downloaded) and r on the host.
double dot(const device_t& y, const host_t& r) {
  const auto h = to<cpu>(y);
  REQUIRE(h.numel() == r.numel());
  double s = 0;
  for (std::int64_t i = 0; i < h.numel(); ++i) s += h[i] * r[i];
  return s;
}

// Moves every entry at least `gap` away from 0 (activation kinks at 0: ReLU, LeakyReLU), keeping its sign.
void away_from_zero(host_t& x, double gap) {
  for (std::int64_t i = 0; i < x.numel(); ++i)
    if (std::abs(x[i]) < gap) x[i] = x[i] < 0 ? x[i] - gap : x[i] + gap;
}

}  // namespace

TEST_CASE("gradcheck on cuda: linear (x, weight, bias)") {
  generator rng(301);
  const linear_dims d{3, 5, 4};
  auto x = random_tensor<double>({d.rows, d.in}, rng), w = random_tensor<double>({d.out, d.in}, rng);
  auto b = random_tensor<double>({d.out}, rng);
  const auto r = random_tensor<double>({d.rows, d.out}, rng);
  auto loss = [&] {
    const auto gx = to<cuda>(x), gw = to<cuda>(w), gb = to<cuda>(b);
    device_t gy({d.rows, d.out});
    ops::linear_forward<cuda>(d, gx.data(), gw.data(), gb.data(), gy.data());
    return dot(gy, r);
  };
  const auto gx = to<cuda>(x), gw = to<cuda>(w), gr = to<cuda>(r);
  device_t gdx({d.rows, d.in}), gdw({d.out, d.in}, 0.0), gdb({d.out}, 0.0);
  ops::linear_backward<cuda>(d, gx.data(), gw.data(), gr.data(), gdx.data(), gdw.data(), gdb.data());
  device_gradcheck g{"linear"};
  g.check(loss, x, to<cpu>(gdx), "x");
  g.check(loss, w, to<cpu>(gdw), "weight");
  g.check(loss, b, to<cpu>(gdb), "bias");
  g.finish();
}

TEST_CASE_TEMPLATE("gradcheck on cuda: activation", Act, activation::ReLU, activation::LeakyReLU, activation::Sigmoid,
                   activation::Tanh, activation::SiLU, activation::GELU, activation::GELUTanh, activation::Softplus) {
  generator rng(302);
  const Act act{};
  const std::int64_t n = 40;
  auto x = random_tensor<double>({n}, rng, 2.0);
  away_from_zero(x, 1e-3);  // finite differences of ±1e-6 never straddle a kink
  const auto r = random_tensor<double>({n}, rng);
  auto loss = [&] {
    const auto gx = to<cuda>(x);
    device_t gy({n});
    ops::activation_forward<cuda>(act, n, gx.data(), gy.data());
    return dot(gy, r);
  };
  const auto gx = to<cuda>(x), gr = to<cuda>(r);
  device_t gy({n}), gdx({n});
  ops::activation_forward<cuda>(act, n, gx.data(), gy.data());
  ops::activation_backward<cuda>(act, n, gx.data(), gy.data(), gr.data(), gdx.data());
  device_gradcheck g{Act::name};
  g.check(loss, x, to<cpu>(gdx), "x");
  g.finish();
}

TEST_CASE("gradcheck on cuda: conv2d (x, weight, bias; stride, padding, dilation, groups)") {
  generator rng(303);
  // {n, in_c, in_h, in_w, out_c, k_h, k_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups}
  for (conv2d_dims d : {conv2d_dims{2, 3, 5, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},
                        conv2d_dims{1, 4, 7, 6, 6, 3, 2, 2, 1, 1, 0, 1, 2, 2}}) {
    d.finish();
    const shape xs{d.n, d.in_c, d.in_h, d.in_w}, ws{d.out_c, d.in_c / d.groups, d.k_h, d.k_w},
        ys{d.n, d.out_c, d.out_h, d.out_w};
    auto x = random_tensor<double>(xs, rng), w = random_tensor<double>(ws, rng);
    auto b = random_tensor<double>({d.out_c}, rng);
    const auto r = random_tensor<double>(ys, rng);
    device_t scratch({ops::conv2d_scratch_size<cuda>(d)});
    auto loss = [&] {
      const auto gx = to<cuda>(x), gw = to<cuda>(w), gb = to<cuda>(b);
      device_t gy(ys);
      ops::conv2d_forward<cuda>(d, gx.data(), gw.data(), gb.data(), gy.data(), scratch.data());
      return dot(gy, r);
    };
    const auto gx = to<cuda>(x), gw = to<cuda>(w), gr = to<cuda>(r);
    device_t gdx(xs), gdw(ws, 0.0), gdb({d.out_c}, 0.0);
    ops::conv2d_backward<cuda>(d, gx.data(), gw.data(), gr.data(), gdx.data(), gdw.data(), gdb.data(), scratch.data());
    device_gradcheck g{cat("conv2d x", xs, " w", ws, " groups ", d.groups)};
    g.check(loss, x, to<cpu>(gdx), "x");
    g.check(loss, w, to<cpu>(gdw), "weight");
    g.check(loss, b, to<cpu>(gdb), "bias");
    g.finish();
  }
}

TEST_CASE("gradcheck on cuda: conv_transpose2d (x, weight, bias; stride, padding, output padding, groups)") {
  generator rng(304);
  // {n, in_c, in_h, in_w, out_c, k_h, k_w, stride_h, stride_w, pad_h, pad_w, out_pad_h, out_pad_w, dil_h, dil_w,
  //  groups}
  for (conv_transpose2d_dims d : {conv_transpose2d_dims{2, 3, 3, 4, 2, 3, 3, 2, 2, 1, 1, 1, 0, 1, 1, 1},
                                  conv_transpose2d_dims{1, 4, 3, 3, 6, 2, 3, 1, 2, 0, 1, 0, 1, 2, 1, 2}}) {
    d.finish();
    const shape xs{d.n, d.in_c, d.in_h, d.in_w}, ws{d.in_c, d.out_c / d.groups, d.k_h, d.k_w},
        ys{d.n, d.out_c, d.out_h, d.out_w};
    auto x = random_tensor<double>(xs, rng), w = random_tensor<double>(ws, rng);
    auto b = random_tensor<double>({d.out_c}, rng);
    const auto r = random_tensor<double>(ys, rng);
    device_t work({ops::conv_transpose2d_scratch_size<cuda>(d)});
    auto loss = [&] {
      const auto gx = to<cuda>(x), gw = to<cuda>(w), gb = to<cuda>(b);
      device_t gy(ys);
      ops::conv_transpose2d_forward<cuda>(d, gx.data(), gw.data(), gb.data(), gy.data(), work.data());
      return dot(gy, r);
    };
    const auto gx = to<cuda>(x), gw = to<cuda>(w), gr = to<cuda>(r);
    device_t gdx(xs), gdw(ws, 0.0), gdb({d.out_c}, 0.0);
    ops::conv_transpose2d_backward<cuda>(d, gx.data(), gw.data(), gr.data(), gdx.data(), gdw.data(), gdb.data(),
                                         work.data());
    device_gradcheck g{cat("conv_transpose2d x", xs, " w", ws, " groups ", d.groups)};
    g.check(loss, x, to<cpu>(gdx), "x");
    g.check(loss, w, to<cpu>(gdw), "weight");
    g.check(loss, b, to<cpu>(gdb), "bias");
    g.finish();
  }
}

TEST_CASE("gradcheck on cuda: group_norm (x, weight, bias)") {
  generator rng(305);
  const group_norm_dims d{2, 6, 3, 5};
  const shape xs{d.batch, d.channels, d.spatial};
  auto x = random_tensor<double>(xs, rng, 2.0), w = random_tensor<double>({d.channels}, rng),
       b = random_tensor<double>({d.channels}, rng);
  const auto r = random_tensor<double>(xs, rng);
  device_t mean({d.batch * d.groups}), rstd({d.batch * d.groups});
  auto loss = [&] {
    const auto gx = to<cuda>(x), gw = to<cuda>(w), gb = to<cuda>(b);
    device_t gy(xs);
    ops::group_norm_forward<cuda>(d, 1e-5, gx.data(), gw.data(), gb.data(), gy.data(), mean.data(), rstd.data());
    return dot(gy, r);
  };
  loss();  // leaves the unperturbed statistics in mean/rstd for the backward
  const auto gx = to<cuda>(x), gw = to<cuda>(w), gr = to<cuda>(r);
  device_t gdx(xs), gdw({d.channels}, 0.0), gdb({d.channels}, 0.0);
  ops::group_norm_backward<cuda>(d, gx.data(), gw.data(), mean.data(), rstd.data(), gr.data(), gdx.data(), gdw.data(),
                                 gdb.data());
  device_gradcheck g{"group_norm"};
  g.check(loss, x, to<cpu>(gdx), "x");
  g.check(loss, w, to<cpu>(gdw), "weight");
  g.check(loss, b, to<cpu>(gdb), "bias");
  g.finish();
}

TEST_CASE("gradcheck on cuda: layer_norm (x, weight, bias)") {
  generator rng(306);
  const layer_norm_dims d{4, 7};
  const shape xs{d.rows, d.features};
  auto x = random_tensor<double>(xs, rng, 2.0), w = random_tensor<double>({d.features}, rng),
       b = random_tensor<double>({d.features}, rng);
  const auto r = random_tensor<double>(xs, rng);
  device_t mean({d.rows}), rstd({d.rows});
  auto loss = [&] {
    const auto gx = to<cuda>(x), gw = to<cuda>(w), gb = to<cuda>(b);
    device_t gy(xs);
    ops::layer_norm_forward<cuda>(d, 1e-5, gx.data(), gw.data(), gb.data(), gy.data(), mean.data(), rstd.data());
    return dot(gy, r);
  };
  loss();
  const auto gx = to<cuda>(x), gw = to<cuda>(w), gr = to<cuda>(r);
  device_t gdx(xs), gdw({d.features}, 0.0), gdb({d.features}, 0.0);
  ops::layer_norm_backward<cuda>(d, gx.data(), gw.data(), mean.data(), rstd.data(), gr.data(), gdx.data(), gdw.data(),
                                 gdb.data());
  device_gradcheck g{"layer_norm"};
  g.check(loss, x, to<cpu>(gdx), "x");
  g.check(loss, w, to<cpu>(gdw), "weight");
  g.check(loss, b, to<cpu>(gdb), "bias");
  g.finish();
}

TEST_CASE("gradcheck on cuda: batch_norm in training mode (batch statistics) and eval mode (running statistics)") {
  generator rng(307);
  const batch_norm_dims d{3, 4, 5};
  const shape xs{d.batch, d.channels, d.spatial};
  auto x = random_tensor<double>(xs, rng, 2.0), w = random_tensor<double>({d.channels}, rng),
       b = random_tensor<double>({d.channels}, rng);
  const auto r = random_tensor<double>(xs, rng);
  host_t running_mean = random_tensor<double>({d.channels}, rng), running_var({d.channels});
  for (std::int64_t c = 0; c < d.channels; ++c) running_var[c] = 0.5 + 0.25 * static_cast<double>(c);
  const auto g_running_mean = to<cuda>(running_mean), g_running_var = to<cuda>(running_var);
  for (const bool training : {true, false}) {
    device_t mean({d.channels}), rstd({d.channels});
    auto loss = [&] {
      const auto gx = to<cuda>(x), gw = to<cuda>(w), gb = to<cuda>(b);
      device_t gy(xs);
      if (training)  // running statistics null: not updated, so repeated evaluations see the same function
        ops::batch_norm_forward_train<cuda>(d, 1e-5, 0.1, gx.data(), gw.data(), gb.data(), gy.data(), mean.data(),
                                            rstd.data(), (double*)nullptr, (double*)nullptr);
      else
        ops::batch_norm_forward_eval<cuda>(d, 1e-5, gx.data(), gw.data(), gb.data(), g_running_mean.data(),
                                           g_running_var.data(), gy.data(), mean.data(), rstd.data());
      return dot(gy, r);
    };
    loss();
    const auto gx = to<cuda>(x), gw = to<cuda>(w), gr = to<cuda>(r);
    device_t gdx(xs), gdw({d.channels}, 0.0), gdb({d.channels}, 0.0);
    ops::batch_norm_backward<cuda>(d, training, gx.data(), gw.data(), mean.data(), rstd.data(), gr.data(), gdx.data(),
                                   gdw.data(), gdb.data());
    device_gradcheck g{training ? "batch_norm (training)" : "batch_norm (eval)"};
    g.check(loss, x, to<cpu>(gdx), "x");
    g.check(loss, w, to<cpu>(gdw), "weight");
    g.check(loss, b, to<cpu>(gdb), "bias");
    g.finish();
  }
}

TEST_CASE("gradcheck on cuda: softmax and log_softmax") {
  generator rng(308);
  const softmax_dims d{4, 9};
  const shape xs{d.rows, d.cols};
  for (const bool use_log : {false, true}) {
    auto x = random_tensor<double>(xs, rng, 2.0);
    const auto r = random_tensor<double>(xs, rng);
    auto forward = [&](const device_t& gx, device_t& gy) {
      if (use_log) ops::log_softmax_forward<cuda>(d, gx.data(), gy.data());
      else ops::softmax_forward<cuda>(d, gx.data(), gy.data());
    };
    auto loss = [&] {
      const auto gx = to<cuda>(x);
      device_t gy(xs);
      forward(gx, gy);
      return dot(gy, r);
    };
    const auto gx = to<cuda>(x), gr = to<cuda>(r);
    device_t gy(xs), gdx(xs);
    forward(gx, gy);
    if (use_log) ops::log_softmax_backward<cuda>(d, gy.data(), gr.data(), gdx.data());
    else ops::softmax_backward<cuda>(d, gy.data(), gr.data(), gdx.data());
    device_gradcheck g{use_log ? "log_softmax" : "softmax"};
    g.check(loss, x, to<cpu>(gdx), "x");
    g.finish();
  }
}

TEST_CASE_TEMPLATE("gradcheck on cuda: elementwise loss (mean reduction)", Loss, losses::MSE, losses::L1,
                   losses::BCEWithLogits) {
  generator rng(309);
  const std::int64_t n = 30;
  auto x = random_tensor<double>({n}, rng, 2.0), t = random_tensor<double>({n}, rng, 2.0);
  if constexpr (std::is_same_v<Loss, losses::BCEWithLogits>)  // targets are probabilities
    for (std::int64_t i = 0; i < n; ++i) t[i] = 1 / (1 + std::exp(-t[i]));
  const auto gt = to<cuda>(t);
  auto loss = [&] {
    const auto gx = to<cuda>(x);
    return ops::elementwise_loss<cuda>(Loss{}, n, gx.data(), gt.data(), loss_reduction::mean, (double*)nullptr);
  };
  const auto gx = to<cuda>(x);
  device_t gdx({n});
  ops::elementwise_loss<cuda>(Loss{}, n, gx.data(), gt.data(), loss_reduction::mean, gdx.data());
  device_gradcheck g{Loss::name};
  g.check(loss, x, to<cpu>(gdx), "x");
  g.finish();
}

TEST_CASE("gradcheck on cuda: cross_entropy (mean over the rows not ignored)") {
  generator rng(310);
  const std::int64_t rows = 5, classes = 7;
  auto x = random_tensor<double>({rows, classes}, rng, 2.0);
  tensor<std::int32_t> t({rows});
  for (std::int64_t i = 0; i < rows; ++i)  // row 2 is ignored
    t[i] = static_cast<std::int32_t>(i == 2 ? default_ignore_index : (3 * i + 1) % classes);
  const auto gt = to<cuda>(t);
  auto loss = [&] {
    const auto gx = to<cuda>(x);
    return ops::cross_entropy_loss<cuda>(rows, classes, gx.data(), gt.data(), loss_reduction::mean, (double*)nullptr);
  };
  const auto gx = to<cuda>(x);
  device_t gdx({rows, classes});
  ops::cross_entropy_loss<cuda>(rows, classes, gx.data(), gt.data(), loss_reduction::mean, gdx.data());
  device_gradcheck g{"cross_entropy"};
  g.check(loss, x, to<cpu>(gdx), "logits");
  g.finish();
}

TEST_CASE("gradcheck on cuda: upsample_nearest and avg_pool2d") {
  generator rng(311);
  {
    const upsample_dims d{3, 2, 3, 2};
    const shape xs{d.planes, d.h, d.w}, ys{d.planes, d.h * d.scale, d.w * d.scale};
    auto x = random_tensor<double>(xs, rng);
    const auto r = random_tensor<double>(ys, rng);
    auto loss = [&] {
      const auto gx = to<cuda>(x);
      device_t gy(ys);
      ops::upsample_nearest_forward<cuda>(d, gx.data(), gy.data());
      return dot(gy, r);
    };
    const auto gr = to<cuda>(r);
    device_t gdx(xs);
    ops::upsample_nearest_backward<cuda>(d, gr.data(), gdx.data());
    device_gradcheck g{"upsample_nearest"};
    g.check(loss, x, to<cpu>(gdx), "x");
    g.finish();
  }
  {
    avg_pool2d_dims d{2, 5, 6, 3, 2, 1};
    d.finish();
    const shape xs{d.planes, d.h, d.w}, ys{d.planes, d.out_h, d.out_w};
    auto x = random_tensor<double>(xs, rng);
    const auto r = random_tensor<double>(ys, rng);
    auto loss = [&] {
      const auto gx = to<cuda>(x);
      device_t gy(ys);
      ops::avg_pool2d_forward<cuda>(d, gx.data(), gy.data());
      return dot(gy, r);
    };
    const auto gr = to<cuda>(r);
    device_t gdx(xs);
    ops::avg_pool2d_backward<cuda>(d, gr.data(), gdx.data());
    device_gradcheck g{"avg_pool2d"};
    g.check(loss, x, to<cpu>(gdx), "x");
    g.finish();
  }
}
