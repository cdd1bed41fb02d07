// gradient_sync: what a model's training step tells data-parallel training about its gradients — which ones its
// backward has finished (so their allreduce can start while the rest of the backward runs) and when the step needs
// them averaged (before its optimizer step).
#pragma once
#include <cstddef>
#include <string>

#include "vae/core/parameters.hpp"

namespace vae::dist {

// Contract for a model that takes one (set_gradient_sync): during a step, after the backward has written the LAST
// contribution to some parameters' gradients, it calls ready() for them (mark_gradients_ready below) — a parameter
// is never written again in that step once it was declared ready; finish() returns when every gradient of the
// store holds the mean over ranks. Every rank makes the same calls in the same order (the same model code runs on
// each). Between the first ready() and finish() the model makes no other collective call (the allreduces may be in
// flight on another thread).
template <class T>
class gradient_sync {
 public:
  virtual ~gradient_sync() = default;
  // [grad, grad + n) are final for this step; `grad` points into the store the sync was made for.
  virtual void ready(const T* grad, std::size_t n) = 0;
  // Waits for (and starts, where ready() was never called for them) the allreduces of the whole store.
  virtual void finish() = 0;
};

// Declares every trainable parameter of `part` (anything with visit_parameters: a layer, an encoder, a quantizer)
// final. Gradients a backward never wrote this step (unset by the optimizer) are cleared first, so what is reduced
// is what the optimizer would read. Nothing happens without a sync (one process).
template <class T, class Part>
  requires HasParameters<Part, T>
void mark_gradients_ready(gradient_sync<T>* sync, Part& part) {
  if (sync == nullptr) return;
  part.visit_parameters("", [&](const std::string&, parameter<T>& p) {
    if (!p.trainable || p.numel() == 0) return;
    sync->ready(p.grad_to_add(), static_cast<std::size_t>(p.numel()));
  });
}

// The same for one bare parameter (a model's own embedding tables).
template <class T>
void mark_gradients_ready(gradient_sync<T>* sync, parameter<T>& p) {
  if (sync == nullptr || !p.trainable || p.numel() == 0) return;
  sync->ready(p.grad_to_add(), static_cast<std::size_t>(p.numel()));
}

}  // namespace vae::dist
