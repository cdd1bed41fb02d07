// The library's concepts, each with its contract. Misuse of a template fails here with one message.
#pragma once
#include <concepts>
#include <string>

#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"

namespace vae {

namespace dist {
class collective;  // dist/communicator.hpp: the type-erased collectives of data-parallel training
}

// Backend: a memory-space tag plus allocate/deallocate/copy/fill/synchronize. Kernels are not members:
// they are specialisations kernel<Op, Backend> (backend/cpu.hpp), checked where an op is used.
template <class B>
concept Backend = requires(float* p, const float* q, std::size_t n) {
  typename B::memory_space;
  { B::template allocate<float>(n) } -> std::same_as<float*>;
  B::template deallocate<float>(p);
  B::template copy<float>(p, q, n);
  B::synchronize();
};

// Layer: forward(x) → y and backward(dy) → dx over tensors of one scalar and backend.
// Contract: forward keeps a pointer to x (x must stay alive and unchanged until backward) and returns a
// reference to an output the layer owns (valid until the next forward). backward ADDS (+=) into the
// parameter gradients and WRITES (=) dx. visit_parameters enumerates parameters with PyTorch names.
template <class L>
concept Layer = requires(L& layer, const tensor<typename L::value_type, typename L::backend>& t,
                         const std::string& prefix) {
  typename L::value_type;
  typename L::backend;
  { layer.forward(t) } -> std::convertible_to<const tensor<typename L::value_type, typename L::backend>&>;
  { layer.backward(t) } -> std::convertible_to<const tensor<typename L::value_type, typename L::backend>&>;
  // A named archetype, not a lambda: nvcc rejects a lambda inside a requires-expression (Layer would be false).
  layer.visit_parameters(prefix, detail::parameter_visitor_archetype<typename L::value_type>{});
};

// Layers with train/eval behaviour (Dropout, BatchNorm) expose set_training; others need not.
template <class L>
concept HasTrainingMode = requires(L& layer) { layer.set_training(true); };

template <class L>
void set_training(L& layer, bool training) {
  if constexpr (HasTrainingMode<L>) layer.set_training(training);
}

// Parts whose training forward/backward must see the whole data-parallel batch (BatchNorm2d's statistics, the
// vector quantizers' EMA and k-means) expose set_communicator; containers forward it to their parts. nullptr (or a
// communicator of one rank) is the single-process behaviour.
template <class L>
concept HasCommunicator = requires(L& layer, dist::collective* comm) { layer.set_communicator(comm); };

template <class L>
void set_communicator(L& layer, dist::collective* comm) {
  if constexpr (HasCommunicator<L>) layer.set_communicator(comm);
}

}  // namespace vae
