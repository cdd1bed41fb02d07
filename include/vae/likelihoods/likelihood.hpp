// Likelihood concept: −log p(x | decoder output) per image, its gradient in the output, and the mean (pixels).
#pragma once
#include <cstdint>
#include <span>
#include <string>

#include "vae/core/error.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"

namespace vae {

// Likelihood<L, T, B>: for decoder output `out` [N, m·P...] (m = output_multiplier()) and data x [N, P...]:
//   nll(out, x, per_image)               per_image[i] = −log p(x_i | out_i) in nats, all constants included;
//   backward(out, x, row_weight, d_out)  WRITES d_out = d(Σ_i w_i nll_i)/d out (and ADDS to own parameter grads);
//   mean(out, pixels)                    the likelihood's mean, shaped like x;
//   output_multiplier()                  decoder values per data value (2 when the decoder also emits log σ);
//   visit_parameters(prefix, visit)      learned parameters (none for most).
// The spans (per_image, row_weight) point into B's memory: host memory for cpu, device memory for cuda (the VAE
// keeps them there and reads the per-image values back once per step). Policies that still index elements on the
// host (the learned-σ Gaussians) static_assert HostBackend<B> with their name.
template <class L, class T, class B>
concept Likelihood = requires(L& l, const tensor<T, B>& t, tensor<T, B>& out, std::span<double> s,
                              std::span<const double> w, const std::string& prefix) {
  l.nll(t, t, s);
  l.backward(t, t, w, out);
  l.mean(t, out);
  { l.output_multiplier() } -> std::convertible_to<int>;
  l.visit_parameters(prefix, detail::parameter_visitor_archetype<T>{});  // not a lambda: nvcc rejects those here
};

namespace detail {
// Checks out [N, m·P] against x [N, P] and the span sizes; returns P (values per image of x).
template <class T, class B>
std::int64_t check_likelihood_shapes(const char* who, const tensor<T, B>& out, const tensor<T, B>& x, int mult,
                                     std::size_t rows) {
  check(x.rank() >= 1 && out.rank() >= 1 && x.dim(0) == out.dim(0) && x.dim(0) > 0 &&
            out.numel() == mult * x.numel(),
        [&] {
          return cat(who, ": expected decoder output with ", mult, "x the values of the data per image and the same",
                     " batch, got output ", out.shape(), " and data ", x.shape());
        });
  check(rows == static_cast<std::size_t>(x.dim(0)),
        [&] { return cat(who, ": expected ", x.dim(0), " per-image slots, got ", rows); });
  return x.numel() / x.dim(0);
}
}  // namespace detail

}  // namespace vae
