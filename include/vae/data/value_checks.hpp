// value_checks: refuses image data whose values the model's likelihood cannot take (NaN/inf, outside [0, 1], 0–255 floats).
//
// A float dataset is scanned once before training: the first non-finite element, the first element outside
// [0, 1], the range, and whether every value is a whole number. check_values turns the first problem into a
// vae::error naming the file, the element ([n, c, h, w] and flat index), its value and the fix.
//   value_domain::finite         any finite value (load_dataset's default).
//   value_domain::intensities    finite, but not whole numbers in 0..255 reaching above 1: 8-bit pixels stored
//                                as float, for models of intensities in [0, 1] whose loss is defined on all reals
//                                (Gaussian / MSE reconstruction terms).
//   value_domain::unit_interval  values in [0, 1]: Bernoulli likelihoods and binary cross-entropy targets.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "vae/core/error.hpp"
#include "vae/core/shape.hpp"

namespace vae::data {

enum class value_domain { finite, intensities, unit_interval };

// What one pass over the values found. Indices are flat (row-major); -1 = none.
struct value_scan {
  std::int64_t count = 0;
  std::int64_t first_nonfinite = -1, first_outside_unit = -1;
  double nonfinite_value = 0, outside_unit_value = 0;
  double min = std::numeric_limits<double>::infinity(), max = -std::numeric_limits<double>::infinity();  // finite values
  bool whole_numbers = true;  // every finite value is an integer

  // Whole numbers within 0..255 reaching above 1: uint8 pixels that were converted to float without / 255.
  bool looks_like_bytes() const { return whole_numbers && count > 0 && min >= 0 && max > 1 && max <= 255; }
};

template <class T>
value_scan scan_values(const T* p, std::int64_t n) {
  value_scan s;
  s.count = n;
  for (std::int64_t i = 0; i < n; ++i) {
    const double v = static_cast<double>(p[i]);
    if (!std::isfinite(v)) {
      if (s.first_nonfinite < 0) {
        s.first_nonfinite = i;
        s.nonfinite_value = v;
      }
      continue;
    }
    if ((v < 0 || v > 1) && s.first_outside_unit < 0) {
      s.first_outside_unit = i;
      s.outside_unit_value = v;
    }
    s.min = std::min(s.min, v);
    s.max = std::max(s.max, v);
    if (s.whole_numbers && v != std::floor(v)) s.whole_numbers = false;
  }
  return s;
}

namespace detail {
// "[3, 0, 5, 7] (flat index 2357)" for element `flat` of an array of shape `dims`.
inline std::string element_at(std::int64_t flat, const shape& dims) {
  std::string idx;
  std::int64_t rest = flat;
  std::vector<std::int64_t> pos(static_cast<std::size_t>(dims.rank()));
  for (std::int64_t k = dims.rank() - 1; k >= 0; --k) {
    const std::int64_t d = dims[static_cast<std::size_t>(k)];
    pos[static_cast<std::size_t>(k)] = d > 0 ? rest % d : 0;
    rest = d > 0 ? rest / d : 0;
  }
  for (std::size_t k = 0; k < pos.size(); ++k) idx += cat(k ? ", " : "", pos[k]);
  return cat("[", idx, "] (flat index ", flat, ")");
}
}  // namespace detail

// Throws a vae::error when values p[0 .. dims.numel()) do not fit `domain`. `origin` names the data (the file);
// `needed_by` says who needs the domain, e.g. "mlp-vae's Bernoulli likelihood".
template <class T>
void check_values(const T* p, const shape& dims, value_domain domain, const std::string& origin,
                  const std::string& needed_by = "the model") {
  const auto s = scan_values(p, dims.numel());
  const std::string range = cat("values span [", s.min, ", ", s.max, "]");
  if (s.first_nonfinite >= 0)
    vae::detail::throw_error(cat(
        "data '", origin, "': element ", detail::element_at(s.first_nonfinite, dims), " is ", s.nonfinite_value,
        "; ", needed_by, " needs finite values. Replace or drop the non-finite entries before training (in NumPy: "
        "np.isfinite(x).all(axis=(1, 2, 3)) selects the clean images)"));
  if (domain != value_domain::finite && s.looks_like_bytes())
    vae::detail::throw_error(cat(
        "data '", origin, "': ", range, " in whole numbers, like 8-bit pixels stored as float (first value above 1: ",
        s.outside_unit_value, " at element ", detail::element_at(s.first_outside_unit, dims), "); ", needed_by,
        " expects intensities in [0, 1]. Divide the array by 255, or save it as uint8 (which is scaled by 1/255 "
        "on loading)"));
  if (domain == value_domain::unit_interval && s.first_outside_unit >= 0)
    vae::detail::throw_error(cat(
        "data '", origin, "': element ", detail::element_at(s.first_outside_unit, dims), " is ",
        s.outside_unit_value, ", outside [0, 1] (", range, "); ", needed_by,
        " is defined on [0, 1] only. Rescale the data to [0, 1], e.g. (x - x.min()) / (x.max() - x.min())"));
}

}  // namespace vae::data
