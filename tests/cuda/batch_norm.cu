// CUDA batch-norm kernel against the cpu kernel: training and eval forward (y, saved statistics, running
// statistics) and backward of both modes (dx, dweight +=, dbias +=); the split path of SyncBatchNorm (channel sums,
// forward with given statistics, backward reduce and elemt).
#include "vae/backend/cuda/batch_norm.cuh"

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

namespace cuda_batch_norm_test {

// Same arithmetic as the cpu kernel (statistics in double, applied in T); differences: the order of the double
// sums (negligible) and the device's FMA contraction (≤ 1–2 float ulps of |y| ≲ 5). float32: atol 1e-5 /
// rtol 1e-5 forward and running statistics, atol 1e-5 / rtol 1e-4 backward. double: 1e-12.
template <class T>
struct tolerances {
  static constexpr bool is_float = std::is_same_v<T, float>;
  static constexpr double atol = is_float ? 1e-5 : 1e-12, rtol_f = is_float ? 1e-5 : 1e-12,
                          rtol_b = is_float ? 1e-4 : 1e-12;
};

// x [batch, channels, spatial] (shifted by `shift`), weight, bias, dy on the host and on the device; weight and bias
// pointers null without affine.
template <class T>
struct inputs {
  inputs(const batch_norm_dims& d, bool affine_, generator& rng, T shift)
      : affine(affine_), xs{d.batch, d.channels, d.spatial}, cs{d.channels}, x(random_tensor<T>(xs, rng, 2.0)),
        w(random_tensor<T>(cs, rng)), b(random_tensor<T>(cs, rng)), dy(random_tensor<T>(xs, rng)) {
    for (std::int64_t i = 0; i < x.numel(); ++i) x[i] += shift;
    gx = to<cuda>(x);
    gw = to<cuda>(w);
    gb = to<cuda>(b);
    gdy = to<cuda>(dy);
  }
  const T* wp() const { return affine ? w.data() : nullptr; }
  const T* bp() const { return affine ? b.data() : nullptr; }
  const T* gwp() const { return affine ? gw.data() : nullptr; }
  const T* gbp() const { return affine ? gb.data() : nullptr; }

  bool affine;
  shape xs, cs;
  tensor<T> x, w, b, dy;
  tensor<T, cuda> gx, gw, gb, gdy;
};

// y and the saved statistics of a forward, device against host.
template <class T>
void require_forward_close(const tensor<T, cuda>& gy, const tensor<T>& y, const tensor<T, cuda>& gmean,
                           const tensor<T>& mean, const tensor<T, cuda>& grstd, const tensor<T>& rstd,
                           const std::string& label) {
  require_close(gy, y, label + " y", tolerances<T>::atol, tolerances<T>::rtol_f);
  require_close(gmean, mean, label + " mean", tolerances<T>::atol, tolerances<T>::rtol_f);
  require_close(grstd, rstd, label + " rstd", tolerances<T>::atol, tolerances<T>::rtol_f);
}

template <class T>
void check_batch_norm(const batch_norm_dims& d, bool affine, generator& rng) {
  const double atol = tolerances<T>::atol, rtol_f = tolerances<T>::rtol_f, rtol_b = tolerances<T>::rtol_b;
  const inputs<T> in(d, affine, rng, T(1));
  const shape &xs = in.xs, &cs = in.cs;
  auto rm = random_tensor<T>(cs, rng), rv = random_tensor<T>(cs, rng);
  for (std::int64_t c = 0; c < d.channels; ++c) rv[c] = std::abs(rv[c]) + T(0.5);
  const std::string label = cat("batch_norm ", xs, affine ? " affine" : "");

  for (const bool training : {true, false}) {
    const std::string mode = label + (training ? " training" : " eval");
    auto grm = to<cuda>(rm), grv = to<cuda>(rv);
    tensor<T> y(xs), mean(cs), rstd(cs), dx(xs);
    tensor<T, cuda> gy(xs), gmean(cs), grstd(cs), gdx(xs);
    if (training) {
      ops::batch_norm_forward_train<cpu>(d, 1e-5, 0.1, in.x.data(), in.wp(), in.bp(), y.data(), mean.data(),
                                         rstd.data(), rm.data(), rv.data());
      ops::batch_norm_forward_train<cuda>(d, 1e-5, 0.1, in.gx.data(), in.gwp(), in.gbp(), gy.data(), gmean.data(),
                                          grstd.data(), grm.data(), grv.data());
      require_close(grm, rm, mode + " running_mean", atol, rtol_f);
      require_close(grv, rv, mode + " running_var", atol, rtol_f);
    } else {
      ops::batch_norm_forward_eval<cpu>(d, 1e-5, in.x.data(), in.wp(), in.bp(), rm.data(), rv.data(), y.data(),
                                        mean.data(), rstd.data());
      ops::batch_norm_forward_eval<cuda>(d, 1e-5, in.gx.data(), in.gwp(), in.gbp(), grm.data(), grv.data(), gy.data(),
                                         gmean.data(), grstd.data());
    }
    require_forward_close(gy, y, gmean, mean, grstd, rstd, mode);

    auto dw = random_tensor<T>(cs, rng), db = random_tensor<T>(cs, rng);
    auto gdw = to<cuda>(dw), gdb = to<cuda>(db);
    const auto gmean_ref = to<cuda>(mean), grstd_ref = to<cuda>(rstd);
    ops::batch_norm_backward<cpu>(d, training, in.x.data(), in.wp(), mean.data(), rstd.data(), in.dy.data(),
                                  dx.data(), affine ? dw.data() : nullptr, affine ? db.data() : nullptr);
    ops::batch_norm_backward<cuda>(d, training, in.gx.data(), in.gwp(), gmean_ref.data(), grstd_ref.data(),
                                   in.gdy.data(), gdx.data(), affine ? gdw.data() : nullptr,
                                   affine ? gdb.data() : nullptr);
    require_close(gdx, dx, mode + " dx", atol, rtol_b);
    require_close(gdw, dw, mode + " dweight (+=)", atol, rtol_b);
    require_close(gdb, db, mode + " dbias (+=)", atol, rtol_b);
  }
}

// The split ops on given inputs: per-channel double sums (same sums as the fused kernels: 1e-12 relative, the order
// differs), y and dx with the tolerances above.
template <class T>
void check_batch_norm_split(const batch_norm_dims& d, bool affine, generator& rng) {
  const double atol = tolerances<T>::atol, rtol_b = tolerances<T>::rtol_b;
  const inputs<T> in(d, affine, rng, T(0));
  const shape &xs = in.xs, &cs = in.cs;
  auto center = random_tensor<double>(cs, rng), var = random_tensor<double>(cs, rng);
  for (std::int64_t c = 0; c < d.channels; ++c) var[c] = std::abs(var[c]) + 0.5;
  const auto gcenter = to<cuda>(center), gvar = to<cuda>(var);
  const std::string label = cat("batch_norm split ", xs, affine ? " affine" : "");

  tensor<double> sum(cs), sq(cs);
  tensor<double, cuda> gsum(cs), gsq(cs);
  ops::batch_norm_channel_sums<cpu>(d, in.x.data(), center.data(), sum.data(), sq.data());
  ops::batch_norm_channel_sums<cuda>(d, in.gx.data(), gcenter.data(), gsum.data(), gsq.data());
  require_close(gsum, sum, label + " Σx", 1e-12, 1e-12);
  require_close(gsq, sq, label + " Σ(x − center)²", 1e-12, 1e-12);

  tensor<T> y(xs), mean(cs), rstd(cs), dx(xs);
  tensor<T, cuda> gy(xs), gmean(cs), grstd(cs), gdx(xs);
  ops::batch_norm_forward_with_stats<cpu>(d, 1e-5, in.x.data(), in.wp(), in.bp(), center.data(), var.data(), y.data(),
                                          mean.data(), rstd.data());
  ops::batch_norm_forward_with_stats<cuda>(d, 1e-5, in.gx.data(), in.gwp(), in.gbp(), gcenter.data(), gvar.data(),
                                           gy.data(), gmean.data(), grstd.data());
  require_forward_close(gy, y, gmean, mean, grstd, rstd, label);

  auto dw = random_tensor<T>(cs, rng), db = random_tensor<T>(cs, rng);
  auto gdw = to<cuda>(dw), gdb = to<cuda>(db);
  const auto gmean_ref = to<cuda>(mean), grstd_ref = to<cuda>(rstd);
  ops::batch_norm_backward_reduce<cpu>(d, in.x.data(), mean.data(), rstd.data(), in.dy.data(), sum.data(), sq.data(),
                                       affine ? dw.data() : nullptr, affine ? db.data() : nullptr);
  ops::batch_norm_backward_reduce<cuda>(d, in.gx.data(), gmean_ref.data(), grstd_ref.data(), in.gdy.data(),
                                        gsum.data(), gsq.data(), affine ? gdw.data() : nullptr,
                                        affine ? gdb.data() : nullptr);
  require_close(gsum, sum, label + " Σdy", 1e-12, 1e-10);
  require_close(gsq, sq, label + " Σdy·x̂", 1e-12, 1e-10);
  require_close(gdw, dw, label + " dweight (+=)", atol, rtol_b);
  require_close(gdb, db, label + " dbias (+=)", atol, rtol_b);
  ops::batch_norm_backward_elemt<cpu>(d, in.x.data(), in.wp(), mean.data(), rstd.data(), in.dy.data(), center.data(),
                                      var.data(), dx.data());
  ops::batch_norm_backward_elemt<cuda>(d, in.gx.data(), in.gwp(), gmean_ref.data(), grstd_ref.data(), in.gdy.data(),
                                       gcenter.data(), gvar.data(), gdx.data());
  require_close(gdx, dx, label + " dx", atol, rtol_b);
}

}  // namespace cuda_batch_norm_test

TEST_CASE_TEMPLATE("cuda batch_norm split path (SyncBatchNorm's ops) matches the cpu kernel", T, float, double) {
  using cuda_batch_norm_test::check_batch_norm_split;
  generator rng(64);
  check_batch_norm_split<T>({4, 6, 49}, true, rng);
  check_batch_norm_split<T>({16, 3, 100}, false, rng);
}

TEST_CASE_TEMPLATE("cuda batch_norm forward and backward match the cpu kernel", T, float, double) {
  using cuda_batch_norm_test::check_batch_norm;
  generator rng(63);
  check_batch_norm<T>({4, 6, 49}, true, rng);     // 196 values per channel < one block of threads
  check_batch_norm<T>({16, 3, 100}, true, rng);   // several values per thread, strided over the batch
  check_batch_norm<T>({8, 5, 1}, false, rng);     // BatchNorm1d-like: spatial 1, no affine
  check_batch_norm<T>({1, 4, 1}, true, rng);      // one value per channel: unbiased variance falls back
}
