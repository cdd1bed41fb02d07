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
    const std::int64_t S = d.spatial, count = d.batch * d.spatial;
    parallel_for(d.channels, d.batch * d.channels * S * 6, [&](std::int64_t c) {
      double s = 0;
      for (std::int64_t n = 0; n < d.batch; ++n) s += cpu_detail::sum(x + (n * d.channels + c) * S, S);
      const double m = s / static_cast<double>(count);
      double ss = 0;
      for (std::int64_t n = 0; n < d.batch; ++n)
        ss += cpu_detail::sum_squared_deviation(x + (n * d.channels + c) * S, S, m);
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

  template <class T>
  static void forward_eval(const batch_norm_dims& d, double eps, const T* x, const T* weight, const T* bias,
                           const T* running_mean, const T* running_var, T* y, T* mean, T* rstd) {
    parallel_for(d.channels, d.batch * d.channels * d.spatial * 2, [&](std::int64_t c) {
      const double rs = cpu_detail::inverse_std(static_cast<double>(running_var[c]), eps);
      mean[c] = running_mean[c];
      rstd[c] = static_cast<T>(rs);
      apply(d, c, x, y, running_mean[c], rs, weight, bias);
    });
  }

  template <class T>
  static void backward(const batch_norm_dims& d, bool training, const T* x, const T* weight, const T* mean,
                       const T* rstd, const T* dy, T* dx, T* dweight, T* dbias) {
    const std::int64_t S = d.spatial, count = d.batch * d.spatial;
    parallel_for(d.channels, d.batch * d.channels * S * 8, [&](std::int64_t c) {
      const double m = static_cast<double>(mean[c]), rs = static_cast<double>(rstd[c]);
      // sg = Σ dy, sgx = Σ dy·x̂ over the channel: the parameter gradients; times w, the sums of ĝ and ĝ·x̂.
      double sg = 0, sgx = 0;
      for (std::int64_t n = 0; n < d.batch; ++n) {
        const T* xs = x + (n * d.channels + c) * S;
        const T* gs = dy + (n * d.channels + c) * S;
        for (std::int64_t s = 0; s < S; ++s) {
          const double g = static_cast<double>(gs[s]);
          sg += g;
          sgx += g * (static_cast<double>(xs[s]) - m);
        }
      }
      sgx *= rs;
      if (dweight) dweight[c] += static_cast<T>(sgx);
      if (dbias) dbias[c] += static_cast<T>(sg);
      if (!dx) return;
      const double w = weight ? static_cast<double>(weight[c]) : 1.0;
      const double inv_count = 1.0 / static_cast<double>(count);
      // training: dx = rs·w·(dy − sg/count − x̂·sgx/count), in double: the float form ka·dy − kb − (x − m)·kc
      // cancels catastrophically when few values share a channel (one value: dx is exactly 0, the terms ~rs·dy with
      // rs up to 1/√eps). eval: dx = rs·w·dy.
      const double ka = rs * w, mean_g = sg * inv_count, mean_gx = sgx * inv_count;
      for (std::int64_t n = 0; n < d.batch; ++n) {
        const T* xs = x + (n * d.channels + c) * S;
        const T* gs = dy + (n * d.channels + c) * S;
        T* dxs = dx + (n * d.channels + c) * S;
        if (training) {
          for (std::int64_t s = 0; s < S; ++s) {
            const double xhat = (static_cast<double>(xs[s]) - m) * rs;
            dxs[s] = static_cast<T>(ka * (static_cast<double>(gs[s]) - mean_g - xhat * mean_gx));
          }
        } else {
          const T kt = static_cast<T>(ka);
          for (std::int64_t s = 0; s < S; ++s) dxs[s] = kt * gs[s];
        }
      }
    });
  }

 private:
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
