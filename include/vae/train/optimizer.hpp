// The Optimizer concept (step(store) over the flat trainable range) and the fused, chunked loop the optimizers share.
#pragma once
#include <algorithm>
#include <concepts>
#include <cstdint>
#include <string>

#include "vae/backend/cpu.hpp"
#include "vae/core/error.hpp"
#include "vae/core/memory_space.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"

namespace vae {

namespace detail {
// Stand-in visitor for the concept below (a named type: nvcc rejects lambdas inside requires-expressions).
template <class T, class B>
struct state_visitor_archetype {
  void operator()(const std::string&, tensor<T, B>&) const {}
};
}  // namespace detail

// Optimizer: updates the values of a parameter_store<T, B> from its gradients.
// Contract: step(store) reads grads and writes values (and the optimizer's own state) over
// [0, store.trainable_size()) only, in one fused pass; buffers after that range are never touched.
// The gradients are left as they are (the caller zeroes them). set_lr/lr change the learning rate between
// steps (schedules). visit_state(visit) calls visit("optimizer.<name>", tensor&) for each state tensor so a
// checkpoint can save and restore it; step_count/set_step_count carry "optimizer.step". Before restoring
// state into a fresh optimizer, call prepare(store) so the tensors have their sizes.
template <class O, class T, class B = cpu>
concept Optimizer = requires(O& opt, parameter_store<T, B>& store, double lr, std::int64_t n,
                             detail::state_visitor_archetype<T, B> visit) {
  opt.step(store);
  opt.prepare(store);
  opt.set_lr(lr);
  { opt.lr() } -> std::convertible_to<double>;
  { opt.step_count() } -> std::convertible_to<std::int64_t>;
  opt.set_step_count(n);
  opt.visit_state(visit);
};

// The checkpoint name of the step count (an integer scalar beside the state tensors).
inline constexpr const char* optimizer_step_name = "optimizer.step";

namespace detail {

// Elements per chunk of an optimizer pass: large enough that one chunk amortises the scheduling, small
// enough that the chunks spread over every thread.
inline constexpr std::int64_t optimizer_chunk = 1 << 13;

// Runs body(begin, end) over [0, n) in contiguous chunks, on the OpenMP pool when the work is large.
// `cost_per_element` is the approximate number of scalar operations per element.
template <class Body>
void for_chunks(std::int64_t n, std::int64_t cost_per_element, Body&& body) {
  const std::int64_t chunks = (n + optimizer_chunk - 1) / optimizer_chunk;
  parallel_for(chunks, n * cost_per_element, [&](std::int64_t c) {
    const std::int64_t begin = c * optimizer_chunk;
    body(begin, std::min(n, begin + optimizer_chunk));
  });
}

// Sizes an optimizer state tensor to the store's trainable range (zeroed) the first time; afterwards
// checks that the store still has that size (a state restored from a checkpoint of another model fails here).
template <class T, class B>
void prepare_state(tensor<T, B>& state, std::int64_t n, const char* owner, const char* name) {
  if (state.empty()) {  // never sized (a default tensor is [0])
    state.resize(shape{n});
    state.zero();
    return;
  }
  check(state.numel() == n, [&] {
    return cat(owner, ": state '", name, "' holds ", state.numel(), " elements but the parameter store has ", n,
               " trainable elements (state from another model?)");
  });
}

}  // namespace detail

}  // namespace vae
