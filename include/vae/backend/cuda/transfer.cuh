// Host↔device transfers, the only places data crosses: to<cuda>(host tensor), to<cpu>(device tensor), copy_into.
#pragma once
#include <concepts>

#include "vae/backend/cuda.hpp"
#include "vae/core/tensor.hpp"

namespace vae {

// dst = src across (or within) memory spaces; dst is resized to src's shape (reusing its capacity, so a
// batch loaded every step allocates nothing after the first). Returns when the copy is complete.
template <class T, class To, class From>
void copy_into(tensor<T, To>& dst, const tensor<T, From>& src) {
  dst.resize(src.shape());
  const auto n = static_cast<std::size_t>(src.numel());
  constexpr bool to_device = std::same_as<typename To::memory_space, device_memory>;
  constexpr bool from_device = std::same_as<typename From::memory_space, device_memory>;
  if constexpr (to_device && !from_device) {
    To::copy_from_host(dst.data(), src.data(), n);
  } else if constexpr (!to_device && from_device) {
    From::copy_to_host(dst.data(), src.data(), n);
  } else {
    static_assert(std::same_as<To, From>, "vae::copy_into: no copy path between these two backends");
    To::copy(dst.data(), src.data(), n);
    if constexpr (to_device) To::synchronize();
  }
}

// A copy of `src` on backend `To`: to<cuda>(host_tensor) uploads, to<cpu>(device_tensor) downloads.
template <class To, class T, class From>
tensor<T, To> to(const tensor<T, From>& src) {
  tensor<T, To> out;
  copy_into(out, src);
  return out;
}

}  // namespace vae
