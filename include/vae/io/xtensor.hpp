// xtensor bridge for the host API: vae::tensor ⇄ xt::xtensor by copy, and zero-copy views both ways where layouts match.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include <xtensor/xadapt.hpp>
#include <xtensor/xtensor.hpp>

#include "vae/core/error.hpp"
#include "vae/core/tensor.hpp"

namespace vae::io {

namespace xt_detail {
template <std::size_t N>
std::array<std::size_t, N> dims_of(const shape& s, const char* what) {
  check(s.rank() == N, [&] { return cat(what, ": expected a rank-", N, " tensor, got shape ", s); });
  std::array<std::size_t, N> out{};
  for (std::size_t i = 0; i < N; ++i) out[i] = static_cast<std::size_t>(s[i]);
  return out;
}
}  // namespace xt_detail

// Copies any xtensor expression (an xt::xtensor, xt::xarray, a view, a column-major array, ...) into a new
// row-major vae::tensor of the same shape. Rank ≤ 6.
template <class E>
tensor<std::remove_cv_t<typename E::value_type>> from_xtensor(const xt::xexpression<E>& expression) {
  using T = std::remove_cv_t<typename E::value_type>;
  const auto& e = expression.derived_cast();
  check(e.dimension() <= shape::max_rank,
        [&] { return cat("from_xtensor: rank ", e.dimension(), " exceeds the supported maximum of 6"); });
  std::vector<std::int64_t> dims;
  std::vector<std::size_t> xdims;
  for (const auto d : e.shape()) {
    dims.push_back(static_cast<std::int64_t>(d));
    xdims.push_back(static_cast<std::size_t>(d));
  }
  tensor<T> out{shape(dims)};
  if (out.numel() == 0) return out;
  auto dst = xt::adapt(out.data(), static_cast<std::size_t>(out.numel()), xt::no_ownership(), xdims);
  dst = e;  // xtensor's assignment walks e in row-major order, whatever its own layout or strides
  return out;
}

// Copies a rank-N tensor out into an owning xt::xtensor<T, N> (e.g. N = 4 for an [N, C, H, W] batch).
template <std::size_t N, class T>
xt::xtensor<T, N> to_xtensor(const tensor<T>& t) {
  xt::xtensor<T, N> out(xt_detail::dims_of<N>(t.shape(), "to_xtensor"));
  std::copy(t.data(), t.data() + t.numel(), out.data());
  return out;
}

// Zero-copy: an xtensor view (xt::xtensor_adaptor, row-major, rank N) of the tensor's own buffer. Writes go
// to the tensor. The view is valid until the tensor is resized to a larger size, moved from or destroyed.
template <std::size_t N, class T>
auto as_xtensor(tensor<T>& t) {
  return xt::adapt(t.data(), static_cast<std::size_t>(t.numel()), xt::no_ownership(),
                   xt_detail::dims_of<N>(t.shape(), "as_xtensor"));
}
// Read-only zero-copy view.
template <std::size_t N, class T>
auto as_xtensor(const tensor<T>& t) {
  return xt::adapt(t.data(), static_cast<std::size_t>(t.numel()), xt::no_ownership(),
                   xt_detail::dims_of<N>(t.shape(), "as_xtensor"));
}

// Zero-copy the other way: a vae::tensor_view of an xt::xtensor's buffer, for feeding a user's batch to code
// that takes views. Only row-major xtensors qualify (a column-major one must be copied with from_xtensor).
template <class T, std::size_t N, xt::layout_type L>
tensor_view<T> as_view(xt::xtensor<T, N, L>& x) {
  static_assert(L == xt::layout_type::row_major,
                "vae::io::as_view needs a row-major xt::xtensor; copy others with from_xtensor");
  static_assert(N <= shape::max_rank, "vae::io::as_view: rank above 6 is not supported");
  std::vector<std::int64_t> dims(x.shape().begin(), x.shape().end());
  return {x.data(), shape(dims)};
}
template <class T, std::size_t N, xt::layout_type L>
tensor_view<const T> as_view(const xt::xtensor<T, N, L>& x) {
  static_assert(L == xt::layout_type::row_major,
                "vae::io::as_view needs a row-major xt::xtensor; copy others with from_xtensor");
  static_assert(N <= shape::max_rank, "vae::io::as_view: rank above 6 is not supported");
  std::vector<std::int64_t> dims(x.shape().begin(), x.shape().end());
  return {x.data(), shape(dims)};
}

}  // namespace vae::io
