// What every op case header uses: the case vocabulary, and host staging for cases whose op leaves a reduction
// between two calls to the caller (SyncBatchNorm's split path).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vae/core/error.hpp"
#include "vae/core/tensor.hpp"
#include "vae/testing/op_case.hpp"

namespace vae::op_cases {

using testing::buffer_spec;
using testing::element;
using testing::fill;
using testing::op_buffers;
using testing::op_case_checks;
using testing::op_signature;
using testing::tolerance;

// n elements of backend memory to the host and back.
template <class B, class E>
std::vector<E> download(const E* p, std::int64_t n) {
  std::vector<E> h(static_cast<std::size_t>(n));
  B::copy_to_host(h.data(), p, h.size());
  return h;
}
template <class B, class E>
void upload(E* p, const std::vector<E>& h) {
  B::copy_from_host(p, h.data(), h.size());
}

}  // namespace vae::op_cases
