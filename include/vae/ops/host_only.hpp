// HostBackend<B>: the backends whose memory the host indexes; host-only policies static_assert on it by name.
#pragma once
#include <concepts>

#include "vae/backend/cpu.hpp"

namespace vae {

// True for backends whose tensors live in host memory (cpu). A policy that still indexes elements on the host
// writes `static_assert(HostBackend<B>, "<Policy>: host backends only for now")` where it is instantiated, so a
// model over cuda that uses it fails to compile with the policy's name instead of misbehaving.
template <class B>
concept HostBackend = std::same_as<typename B::memory_space, host_memory>;

}  // namespace vae
