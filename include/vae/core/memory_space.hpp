// HostBackend<B>: the one test of "are B's tensors host memory?" (with the memory-space tags a backend names).
#pragma once
#include <concepts>

namespace vae {

// Memory-space tags: a backend's `memory_space` says where its tensors live.
struct host_memory {};    // the host indexes it (cpu)
struct device_memory {};  // an accelerator's, not addressable from the host (cuda)

// True for backends whose tensors the host indexes (cpu). Backend-neutral code (layers, models, policies) does not
// branch on it: what differs between backends is a kernel<Op, B> or a backend-provided function. It constrains what
// only exists on the host (tensor::operator[], parameter_store::freeze_for_inference) and names what has no device
// path yet, `static_assert(HostBackend<B>, "<Policy>: host backends only for now")`, so a model over cuda that uses
// such a policy fails to compile with the policy's name instead of misbehaving. Its complement is !HostBackend<B>.
template <class B>
concept HostBackend = std::same_as<typename B::memory_space, host_memory>;

}  // namespace vae
