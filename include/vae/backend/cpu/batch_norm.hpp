// cpu kernel of the batch-norm op: one task per channel (batch × spatial values, strided), two-pass moments in double.
#pragma once
#include <cstdint>

#include "vae/backend/cpu.hpp"
#include "vae/backend/cpu/norm_stats.hpp"
#include "vae/ops/batch_norm.hpp"

namespace vae {

template <>
struct kernel<batch_norm_op, cpu> {
  template <class T>
  static void forward_train(const batch_norm_dims& d, double eps, double momentum, const T* x, const T* weight,
                            const T* bias, T* y, T* mean, T* rstd, T* running_mean, T* running_var) {
    const std::int64_t count = d.batch * d.spatial;
    parallel_for(d.channels, d.batch * d.channels * d.spatial * 6, [&](std::int64_t c) {
      const double m = channel_sum(d, c, x) / static_cast<double>(count);
      const double ss = channel_squared_deviation(d, c, x, m);
      const double var = ss / static_cast<double>(count);
      const double rs = cpu_detail::inverse_std(var, eps);
      mean[c] = static_cast<T>(m);
      rstd[c] = static_cast<T>(rs);
      if (running_mean)
        running_mean[c] = static_cast<T>((1 - momentum) * static_cast<double>(running_mean[c]) + momentum * m);
      if (running_var) {
        const double unbiased = count > 1 ? ss / static_cast<double>(count - 1) : var;
        running_var[c] = static_cast<T>((1 - momentum) * static_cast<double>(running_var[c]) + momentum * unbiased);
      }
      apply(d, c, x, y, static_cast<T>(m), rs, weight, bias);
    });
  }

  // Statistics S: T (eval: the running statistics) or double (batch_norm_forward_with_stats).
  template <class T, class S>
  static void forward_eval(const batch_norm_dims& d, double eps, const T* x, const T* weight, const T* bias,
                           const S* running_mean, const S* running_var, T* y, T* mean, T* rstd) {
    parallel_for(d.channels, d.batch * d.channels * d.spatial * 2, [&](std::int64_t c) {
      const double rs = cpu_detail::inverse_std(static_cast<double>(running_var[c]), eps);
      mean[c] = static_cast<T>(running_mean[c]);
      rstd[c] = static_cast<T>(rs);
      apply(d, c, x, y, static_cast<T>(running_mean[c]), rs, weight, bias);
    });
  }

  template <class T>
  static void channel_sums(const batch_norm_dims& d, const T* x, const double* center, double* sum,
                           double* sum_sq_dev) {
    parallel_for(d.channels, d.batch * d.channels * d.spatial * 4, [&](std::int64_t c) {
      if (sum) sum[c] = channel_sum(d, c, x);
      if (sum_sq_dev) sum_sq_dev[c] = channel_squared_deviation(d, c, x, center ? center[c] : 0.0);
    });
  }

  template <class T>
  static void backward(const batch_norm_dims& d, bool training, const T* x, const T* weight, const T* mean,
                       const T* rstd, const T* dy, T* dx, T* dweight, T* dbias) {
    const std::int64_t count = d.batch * d.spatial;
    parallel_for(d.channels, d.batch * d.channels * d.spatial * 8, [&](std::int64_t c) {
      // sg = Σ dy, sgx = Σ dy·x̂ over the channel: the parameter gradients; times w, the sums of ĝ and ĝ·x̂.
      double sg, sgx;
      backward_sums(d, c, x, mean, rstd, dy, sg, sgx, dweight, dbias);
      if (!dx) return;
      if (training) {
        const double inv_count = 1.0 / static_cast<double>(count);
        input_gradient(d, c, x, weight, mean, rstd, dy, sg * inv_count, sgx * inv_count, dx);
      } else {  // eval: dx = rs·w·dy
        const double w = weight ? static_cast<double>(weight[c]) : 1.0;
        const T kt = static_cast<T>(static_cast<double>(rstd[c]) * w);
        for (std::int64_t n = 0; n < d.batch; ++n) {
          const T* gs = dy + (n * d.channels + c) * d.spatial;
          T* dxs = dx + (n * d.channels + c) * d.spatial;
          for (std::int64_t s = 0; s < d.spatial; ++s) dxs[s] = kt * gs[s];
        }
      }
    });
  }

  template <class T>
  static void backward_reduce(const batch_norm_dims& d, const T* x, const T* mean, const T* rstd, const T* dy,
                              double* sum_dy, double* sum_dy_xhat, T* dweight, T* dbias) {
    parallel_for(d.channels, d.batch * d.channels * d.spatial * 4, [&](std::int64_t c) {
      backward_sums(d, c, x, mean, rstd, dy, sum_dy[c], sum_dy_xhat[c], dweight, dbias);
    });
  }

  template <class T>
  static void backward_elemt(const batch_norm_dims& d, const T* x, const T* weight, const T* mean, const T* rstd,
                             const T* dy, const double* mean_dy, const double* mean_dy_xhat, T* dx) {
    parallel_for(d.channels, d.batch * d.channels * d.spatial * 4, [&](std::int64_t c) {
      input_gradient(d, c, x, weight, mean, rstd, dy, mean_dy[c], mean_dy_xhat[c], dx);
    });
  }

 private:
  // Σ x over channel c's batch × spatial values, in double.
  template <class T>
  static double channel_sum(const batch_norm_dims& d, std::int64_t c, const T* x) {
    double s = 0;
    for (std::int64_t n = 0; n < d.batch; ++n) s += cpu_detail::sum(x + (n * d.channels + c) * d.spatial, d.spatial);
    return s;
  }
  // Σ (x − m)² over channel c's values, in double.
  template <class T>
  static double channel_squared_deviation(const batch_norm_dims& d, std::int64_t c, const T* x, double m) {
    double ss = 0;
    for (std::int64_t n = 0; n < d.batch; ++n)
      ss += cpu_detail::sum_squared_deviation(x + (n * d.channels + c) * d.spatial, d.spatial, m);
    return ss;
  }

  // sg = Σ dy, sgx = Σ dy·x̂ over channel c (double); dweight[c] += sgx, dbias[c] += sg where non-null.
  template <class T>
  static void backward_sums(const batch_norm_dims& d, std::int64_t c, const T* x, const T* mean, const T* rstd,
                            const T* dy, double& sg, double& sgx, T* dweight, T* dbias) {
    const double m = static_cast<double>(mean[c]), rs = static_cast<double>(rstd[c]);
    double a = 0, b = 0;
    for (std::int64_t n = 0; n < d.batch; ++n) {
      const T* xs = x + (n * d.channels + c) * d.spatial;
      const T* gs = dy + (n * d.channels + c) * d.spatial;
      for (std::int64_t s = 0; s < d.spatial; ++s) {
        const double g = static_cast<double>(gs[s]);
        a += g;
        b += g * (static_cast<double>(xs[s]) - m);
      }
    }
    sg = a;
    sgx = b * rs;
    if (dweight) dweight[c] += static_cast<T>(sgx);
    if (dbias) dbias[c] += static_cast<T>(sg);
  }

  // dx = rs·w·(dy − mean_g − x̂·mean_gx) over channel c, in double: the float form ka·dy − kb − (x − m)·kc cancels
  // catastrophically when few values share a channel (one value: dx is exactly 0, the terms ~rs·dy with rs up to
  // 1/√eps).
  template <class T>
  static void input_gradient(const batch_norm_dims& d, std::int64_t c, const T* x, const T* weight, const T* mean,
                             const T* rstd, const T* dy, double mean_g, double mean_gx, T* dx) {
    const double m = static_cast<double>(mean[c]), rs = static_cast<double>(rstd[c]);
    const double ka = rs * (weight ? static_cast<double>(weight[c]) : 1.0);
    for (std::int64_t n = 0; n < d.batch; ++n) {
      const T* xs = x + (n * d.channels + c) * d.spatial;
      const T* gs = dy + (n * d.channels + c) * d.spatial;
      T* dxs = dx + (n * d.channels + c) * d.spatial;
      for (std::int64_t s = 0; s < d.spatial; ++s) {
        const double xhat = (static_cast<double>(xs[s]) - m) * rs;
        dxs[s] = static_cast<T>(ka * (static_cast<double>(gs[s]) - mean_g - xhat * mean_gx));
      }
    }
  }

  // y = (x − m)·(rs·w[c]) + b[c] over the channel's batch × spatial values.
  template <class T>
  static void apply(const batch_norm_dims& d, std::int64_t c, const T* x, T* y, T m, double rs, const T* weight,
                    const T* bias) {
    const T scale = static_cast<T>(weight ? static_cast<double>(weight[c]) * rs : rs);
    const T shift = bias ? bias[c] : T(0);
    for (std::int64_t n = 0; n < d.batch; ++n) {
      const T* xs = x + (n * d.channels + c) * d.spatial;
      T* ys = y + (n * d.channels + c) * d.spatial;
      for (std::int64_t s = 0; s < d.spatial; ++s) ys[s] = (xs[s] - m) * scale + shift;
    }
  }
};

}  // namespace vae
