// The FeatureNet concept: a Layer read at several taps (LPIPS's VGG relu layers), with the gradient entering there.
#pragma once
#include <concepts>
#include <cstdint>
#include <span>
#include <string>

#include "vae/core/concepts.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"

namespace vae {

// FeatureNet<F>: a Layer whose forward(x) also keeps tap_count() intermediate activations, tap(i) ([N, C_i, H_i, W_i],
// owned by the net, valid until the next forward), and whose backward_taps(dtaps) takes one output gradient per tap
// (a null pointer: zero there) and WRITES the input gradient of Σ_i ⟨dtaps[i], tap(i)⟩, ADDING parameter gradients as
// any Layer (a frozen net has none: see frozen_parameters). forward's result is the last tap.
template <class F>
concept FeatureNet =
    Layer<F> && requires(F& f, std::size_t i, std::span<const tensor<typename F::value_type, typename F::backend>* const> d) {
      { f.tap_count() } -> std::convertible_to<std::size_t>;
      { f.tap(i) } -> std::convertible_to<const tensor<typename F::value_type, typename F::backend>&>;
      { f.backward_taps(d) } -> std::convertible_to<const tensor<typename F::value_type, typename F::backend>&>;
    };

// A FeatureNet with learned non-negative per-channel weights at each tap (LPIPS's "lin" 1×1 convolutions, no bias):
// tap_weights(i) points to C_i values in the net's backend memory. A net without them is averaged over channels.
template <class F>
concept WeightedFeatureNet = FeatureNet<F> && requires(F& f, std::size_t i) {
  { f.tap_weights(i) } -> std::convertible_to<const typename F::value_type*>;
};

// A module's parameters seen as buffers (trainable = false): attached through this view, a store gives them no
// gradient slots, so the layers' backward passes skip their weight products and accumulate nothing, and no optimizer
// steps them. How a perceptual loss holds its feature net frozen.
template <class Module>
struct frozen_parameters {
  Module* module;
  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    module->visit_parameters(prefix, [&](const std::string& name, auto& p) {
      p.trainable = false;
      visit(name, p);
    });
  }
};

// store.attach through frozen_parameters: `module`'s parameters become `store`'s buffers.
template <class T, class B, class Module>
void attach_frozen(parameter_store<T, B>& store, Module& module, generator& rng, const std::string& prefix = "") {
  frozen_parameters<Module> view{&module};
  store.attach(view, rng, prefix);
}

}  // namespace vae
