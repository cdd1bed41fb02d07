// Public gradient checker: compares analytic gradients with central finite differences in double precision.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "vae/core/concepts.hpp"
#include "vae/core/error.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"

namespace vae::testing {

struct gradcheck_options {
  double eps = 1e-6;    // finite-difference step
  double atol = 1e-6;   // |analytic − numeric| ≤ atol + rtol·max(|analytic|, |numeric|)
  double rtol = 1e-5;
  std::int64_t max_checks_per_tensor = 96;  // larger tensors are checked at this many spread indices
  std::uint64_t seed = 12345;               // for the random output weighting
  // The caller's statement that the function has no derivatives to check (an op whose inputs are all indices or
  // constants): a call with no values then passes, and a call WITH values fails (they are derivatives to check, so
  // the statement is wrong). Without it, a call with no values fails: a check of nothing is not a pass.
  bool nothing_to_check = false;
};

// A check that compared nothing is a failure, never a pass: `ok` is false when a call had no entries to compare (unless
// the options say there is nothing to check), when a layer's dx does not match its input, or (check_layer_gradients)
// when no derivative differed from zero.
struct gradcheck_report {
  bool ok = true;
  std::int64_t checked = 0;
  std::int64_t nonzero = 0;  // derivatives whose analytic or numeric value exceeds atol in magnitude
  double max_abs_error = 0.0;
  double max_rel_error = 0.0;
  std::string worst;     // "input[17]" or "0.weight[3]": where the largest violation (or error) was
  std::string failures;  // up to a few failing entries, for the test message

  std::string summary() const {
    std::ostringstream out;
    out << (ok ? "ok" : "FAILED") << ": " << checked << " derivatives, max abs err " << max_abs_error
        << ", max rel err " << max_rel_error << (worst.empty() ? "" : " at " + worst) << failures;
    return out.str();
  }
};

namespace detail {
inline std::vector<std::int64_t> spread_indices(std::int64_t n, std::int64_t limit) {
  std::vector<std::int64_t> idx;
  if (limit == 1 && n > 0) {
    idx.push_back(0);
  } else if (n <= limit) {
    for (std::int64_t i = 0; i < n; ++i) idx.push_back(i);
  } else {
    for (std::int64_t k = 0; k < limit; ++k) idx.push_back(k * (n - 1) / (limit - 1));
  }
  return idx;
}

// Marks the report failed with `why` (kept first in the failure list: it explains the rest).
inline void refuse(gradcheck_report& report, const std::string& why) {
  if (report.ok) report.failures.clear();
  report.ok = false;
  report.failures += "\n  " + why;
}
}  // namespace detail

// Core check: `loss()` evaluates a scalar from the current contents of `values[0..n)`; `analytic[i]` is the
// claimed d loss / d values[i]. Each checked value is perturbed by ±eps and restored. A call with n ≤ 0 fails
// the report (it would otherwise add nothing and let the check pass) unless opt.nothing_to_check says there is
// nothing to check, and then a call with n > 0 fails instead; options that cannot check throw.
inline void check_gradient(const std::function<double()>& loss, double* values, const double* analytic,
                           std::int64_t n, const std::string& label, const gradcheck_options& opt,
                           gradcheck_report& report) {
  check(std::isfinite(opt.eps) && opt.eps > 0, [&] {
    return cat("check_gradient(", label, "): eps must be a positive finite step, got ", opt.eps);
  });
  check(opt.atol >= 0 && opt.rtol >= 0, [&] {
    return cat("check_gradient(", label, "): atol and rtol must be non-negative, got ", opt.atol, " and ", opt.rtol);
  });
  check(opt.max_checks_per_tensor >= 1, [&] {
    return cat("check_gradient(", label, "): max_checks_per_tensor must be at least 1, got ", opt.max_checks_per_tensor);
  });
  if (opt.nothing_to_check) {
    if (n > 0)
      detail::refuse(report, cat(label, ": ", n, " values, but the options say there is nothing to check: check "
                                        "them (drop nothing_to_check) or do not pass them"));
    return;
  }
  if (n <= 0) {
    detail::refuse(report, cat(label, ": nothing to check (", n, " values): a check of no derivatives cannot pass "
                                      "(set gradcheck_options::nothing_to_check where that is the point)"));
    return;
  }
  check(values != nullptr && analytic != nullptr, [&] {
    return cat("check_gradient(", label, "): ", n, " values but a null ", values ? "analytic" : "values", " pointer");
  });
  double worst_violation = -1;
  for (const auto i : detail::spread_indices(n, opt.max_checks_per_tensor)) {
    const double saved = values[i];
    values[i] = saved + opt.eps;
    const double up = loss();
    values[i] = saved - opt.eps;
    const double down = loss();
    values[i] = saved;
    const double numeric = (up - down) / (2 * opt.eps);
    const double a = analytic[i];
    const double abs_err = std::abs(a - numeric);
    const double scale = std::max(std::abs(a), std::abs(numeric));
    const double rel_err = scale > 0 ? abs_err / scale : 0.0;
    report.max_abs_error = std::max(report.max_abs_error, abs_err);
    report.max_rel_error = std::max(report.max_rel_error, rel_err);
    ++report.checked;
    if (!(scale <= opt.atol)) ++report.nonzero;  // NaN counts: it fails below anyway
    const double violation = abs_err - (opt.atol + opt.rtol * scale);
    if (violation > worst_violation) {
      worst_violation = violation;
      if (violation > 0 || report.ok) report.worst = label + "[" + std::to_string(i) + "]";
    }
    if (violation > 0 || !std::isfinite(numeric) || !std::isfinite(a)) {
      if (report.ok) report.failures.clear();
      report.ok = false;
      if (report.failures.size() < 600) {
        std::ostringstream f;
        f << "\n  " << label << "[" << i << "]: analytic " << a << " numeric " << numeric;
        report.failures += f.str();
      }
    }
  }
}

// Checks a Layer in double precision: loss = Σ y ⊙ r for a fixed random r, so dy = r. Verifies dx against
// finite differences in every (sampled) input element and every trainable parameter of `store`, which must
// be attached to `layer`. Users check their own layers with this. The report fails, saying why, when the check
// would be vacuous: dx not the size of x, a trainable parameter of the layer outside `store`, or every checked
// derivative zero (the output depends on nothing that was perturbed).
template <Layer L>
  requires std::same_as<typename L::value_type, double>
gradcheck_report check_layer_gradients(L& layer, parameter_store<double, typename L::backend>& store,
                                       tensor<double, typename L::backend>& x, const gradcheck_options& opt = {}) {
  using tensor_t = tensor<double, typename L::backend>;
  generator rng(opt.seed);
  tensor_t r(layer.forward(x).shape());
  rng.fill_normal(r.data(), r.numel());
  auto loss = [&] {
    const auto& y = layer.forward(x);
    double s = 0;
    for (std::int64_t i = 0; i < y.numel(); ++i) s += y[i] * r[i];
    return s;
  };
  store.zero_grad();
  layer.forward(x);
  const tensor_t dx = layer.backward(r);
  const std::vector<double> grads(store.grads(), store.grads() + store.trainable_size());

  gradcheck_report report;
  if (dx.numel() == x.numel()) {
    check_gradient(loss, x.data(), dx.data(), x.numel(), "input", opt, report);
  } else {
    detail::refuse(report, cat("input: backward returned dx of shape ", dx.shape(), " for an input of shape ",
                               x.shape(), ": the input gradient cannot be checked"));
  }
  const double* first = store.values();
  const double* last = store.values() + store.trainable_size();
  layer.visit_parameters("", [&](const std::string& name, parameter<double>& p) {
    const std::less_equal<const double*> le;  // a total order, also for pointers into different buffers
    if (p.trainable && !(le(first, p.value) && le(p.value + p.numel(), last)))
      detail::refuse(report, cat(name, ": a trainable parameter of the layer that is not in the store's trainable "
                                       "slices (attach the store to this layer): its gradient would go unchecked"));
  });
  for (const auto& e : store.entries()) {
    if (!e.trainable) continue;
    check_gradient(loss, store.values() + e.offset, grads.data() + e.offset, e.shape.numel(), e.name, opt, report);
  }
  if (report.checked > 0 && report.nonzero == 0)
    detail::refuse(report, cat("all ", report.checked, " checked derivatives are zero (within atol ", opt.atol,
                               "): the output depends on nothing that was perturbed, so nothing was tested"));
  return report;
}

}  // namespace vae::testing
