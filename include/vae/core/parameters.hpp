// Flat parameter store: every parameter, gradient and buffer of a model in one allocation each, with PyTorch names.
#pragma once
#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "vae/backend/cpu/avx512.hpp"
#include "vae/backend/cpu/weight_panels.hpp"
#include "vae/core/error.hpp"
#include "vae/core/memory_space.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"

namespace vae {

// How a parameter is initialised when its store is created (PyTorch's defaults are expressible here).
struct parameter_init {
  enum class kind { constant, uniform, normal } how = kind::constant;
  double a = 0.0;  // constant value | lower bound | mean
  double b = 0.0;  // -             | upper bound | standard deviation

  static parameter_init constant(double v) { return {kind::constant, v, 0.0}; }
  static parameter_init uniform(double lo, double hi) { return {kind::uniform, lo, hi}; }
  static parameter_init normal(double mean, double stddev) { return {kind::normal, mean, stddev}; }
  // PyTorch's Linear/Conv default: kaiming_uniform(a=√5) on the weight and U(±1/√fan_in) on the bias
  // both reduce to U(-1/√fan_in, 1/√fan_in).
  static parameter_init fan_in_uniform(std::int64_t fan_in) {
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    return uniform(-bound, bound);
  }
};

// A named slice of a parameter_store, held by the layer that uses it. `value` and `grad` point into the
// store once it is attached; before that they are null. Non-trainable slices (running statistics) are
// buffers: saved in checkpoints, never touched by optimizers, their `grad` stays null.
template <class T>
struct parameter {
  vae::shape shape;
  parameter_init init;
  bool trainable = true;
  T* value = nullptr;
  T* grad = nullptr;
  // Host stores: the store's flag for this gradient. Set by parameter_store::unset_grads (what an optimizer's
  // step_and_zero_grad does, as PyTorch's zero_grad(set_to_none=True)): the gradient reads as zero, but its memory still
  // holds the last step's values. Gradient writers go through grad_to_add() or take_unset_grad(), never `grad` alone.
  std::uint8_t* grad_unset = nullptr;
  // A [out, in] weight that a layer's forward reads transposed (Linear): while its host store is frozen for inference
  // (parameter_store::freeze_for_inference) *inference_panels points to its inference panels
  // (cpu_detail::pack_weight_panels: Wᵀ in K × 32 blocks), else to null.
  bool panels_for_inference = false;
  const T* const* inference_panels = nullptr;

  // The frozen inference panels of this [out, in] weight, or null.
  const T* frozen_panels() const { return inference_panels ? *inference_panels : nullptr; }

  // The gradient to ADD into: cleared first when the store left it unset.
  T* grad_to_add() {
    if (grad_unset && *grad_unset) {
      std::fill(grad, grad + numel(), T(0));
      *grad_unset = 0;
    }
    return grad;
  }
  // True when the gradient was unset: the caller then WRITES all of it (no clearing, no reading of the old values).
  // False: ADD as usual.
  bool take_unset_grad() {
    if (!grad_unset || !*grad_unset) return false;
    *grad_unset = 0;
    return true;
  }

  std::int64_t numel() const { return shape.numel(); }
  bool bound() const { return value != nullptr; }
  tensor_view<T> value_view() const { return {value, shape}; }
  tensor_view<T> grad_view() const { return {grad, shape}; }
};

// One store entry: the PyTorch-style name ("encoder.0.weight"), shape and offset into the flat buffers.
struct parameter_entry {
  std::string name;
  vae::shape shape;
  std::int64_t offset = 0;
  bool trainable = true;
  bool panels_for_inference = false;  // parameter::panels_for_inference
};

namespace detail {
// Stand-in visitor for the concept below: a named type, because nvcc's front end rejects a lambda
// inside a requires-expression (the concept would be false for every module in .cu files).
template <class T>
struct parameter_visitor_archetype {
  void operator()(const std::string&, parameter<T>&) const {}
};
}  // namespace detail

// Something whose parameters can be enumerated with their names.
template <class M, class T>
concept HasParameters = requires(M& m, const std::string& prefix, detail::parameter_visitor_archetype<T> visit) {
  m.visit_parameters(prefix, visit);
};

// Owns the flat buffers. Trainable parameters occupy [0, trainable_size()), buffers follow, so an
// optimizer runs one fused pass over a single contiguous range.
template <class T, class Backend = cpu>
class parameter_store {
 public:
  parameter_store() = default;
  parameter_store(const parameter_store&) = delete;  // layers hold pointers into the buffers
  parameter_store& operator=(const parameter_store&) = delete;
  parameter_store(parameter_store&&) noexcept = default;
  parameter_store& operator=(parameter_store&&) noexcept = default;

  // Lays out every parameter of `module`, allocates the buffers, binds the layers' pointers to them
  // and initialises values from `rng`. A store is attached once.
  template <class Module>
    requires HasParameters<Module, T>
  void attach(Module& module, generator& rng, const std::string& prefix = "") {
    check(entries_.empty(), "parameter_store::attach: this store is already attached to a module");
    std::vector<parameter<T>*> slots;
    std::int64_t offset = 0;
    for (const bool trainable : {true, false}) {
      module.visit_parameters(prefix, [&](const std::string& name, parameter<T>& p) {
        if (p.trainable != trainable) return;
        for (const auto& e : entries_)
          check(e.name != name, [&] { return cat("parameter_store: duplicate parameter name '", name, "'"); });
        entries_.push_back({name, p.shape, offset, p.trainable, p.panels_for_inference && p.shape.rank() == 2});
        slots.push_back(&p);
        offset += p.numel();
      });
      if (trainable) trainable_size_ = offset;
    }
    values_.resize(shape{offset});
    grads_.resize(shape{offset});
    grads_.zero();
    unset_ = std::make_unique<std::uint8_t[]>(slots.size());  // zero: every gradient set (to zero, just above)
    panels_ = std::make_unique<const T*[]>(slots.size());  // null: not frozen
    // Initial values are drawn on the host (same draws on every backend) and copied once.
    std::vector<T> initial(static_cast<std::size_t>(offset), T(0));
    for (std::size_t i = 0; i < slots.size(); ++i) {
      initialise(slots[i]->init, initial.data() + entries_[i].offset, slots[i]->numel(), rng);
      slots[i]->value = values_.data() + entries_[i].offset;
      slots[i]->grad = slots[i]->trainable ? grads_.data() + entries_[i].offset : nullptr;
      slots[i]->grad_unset = HostBackend<Backend> && slots[i]->trainable ? &unset_[i] : nullptr;
      slots[i]->inference_panels = HostBackend<Backend> ? &panels_[i] : nullptr;
    }
    Backend::copy_from_host(values_.data(), initial.data(), initial.size());
  }

  const std::vector<parameter_entry>& entries() const { return entries_; }
  const parameter_entry* find(const std::string& name) const {
    for (const auto& e : entries_)
      if (e.name == name) return &e;
    return nullptr;
  }
  // Total elements, and elements of trainable parameters (a prefix of the buffers).
  std::int64_t size() const { return values_.numel(); }
  std::int64_t trainable_size() const { return trainable_size_; }

  // Writable values: a frozen store thaws first (its transposed copies would go stale).
  T* values() {
    thaw();
    return values_.data();
  }
  const T* values() const { return values_.data(); }
  // The flat gradients; any still unset (unset_grads) are cleared first, so readers always see zeros for them.
  T* grads() {
    settle_unset();
    return grads_.data();
  }
  const T* grads() const {
    settle_unset();
    return grads_.data();
  }
  tensor<T, Backend>& value_tensor() {
    thaw();
    return values_;
  }
  tensor<T, Backend>& grad_tensor() {
    settle_unset();
    return grads_;
  }

  // Every gradient reads as zero from now on. A host store does it without touching their memory (PyTorch's
  // zero_grad(set_to_none=True)): the next backward's first write to a parameter overwrites instead of adding to a
  // cleared buffer, and grads() clears whatever no backward wrote; one pass over the gradients per step less. A device
  // store's layers cannot read the flags (their parameters carry none), so it clears the gradients (zero_grad).
  void unset_grads() {
    if constexpr (HostBackend<Backend>) {
      for (std::size_t i = 0; i < entries_.size(); ++i) unset_[i] = entries_[i].trainable ? 1 : 0;
      maybe_unset_ = true;
    } else {
      zero_grad();
    }
  }

  // Inference (host stores): every weight a layer's forward reads transposed (Linear's [out, in]) copied once into
  // inference panels (cpu_detail::pack_weight_panels), the blocks of Wᵀ the product's kernel multiplies, so that it
  // neither transposes the weight on every call nor reads it at a stride. Only where that product is vae's float
  // AVX-512 kernel, whose result is then bit for bit the same; BLAS packs its operands anyway and would sum in
  // another order, so elsewhere this does nothing (frozen() false).
  // A snapshot, as torch.jit.freeze: it holds until thaw() or the next writable access through the store (values(),
  // value_tensor(), which optimizers and loaders use); writes through a layer's raw parameter::value pointer in
  // between are not seen. Backward passes keep reading the weights themselves.
  void freeze_for_inference()
    requires HostBackend<Backend>
  {
    thaw();
#if defined(VAE_AVX512_KERNELS)
    if constexpr (std::same_as<T, float>) {
      // Each entry's panels start 64 bytes apart from the buffer's start (whole 32-float panels), which the packing's
      // aligned stores need; the buffer itself is aligned by a few spare floats.
      constexpr std::int64_t align_floats = 16;
      std::int64_t total = align_floats;
      for (const auto& e : entries_)
        if (e.panels_for_inference) total += cpu_detail::weight_panel_floats(e.shape[0], e.shape[1]);
      if (total == align_floats) return;
      frozen_.resize(shape{total});
      float* base = frozen_.data();
      std::int64_t at = (align_floats - static_cast<std::int64_t>(reinterpret_cast<std::uintptr_t>(base) / 4 % 16)) % 16;
      for (std::size_t i = 0; i < entries_.size(); ++i) {
        const auto& e = entries_[i];
        if (!e.panels_for_inference) continue;
        cpu_detail::pack_weight_panels(values_.data() + e.offset, e.shape[0], e.shape[1], base + at);
        panels_[i] = base + at;
        at += cpu_detail::weight_panel_floats(e.shape[0], e.shape[1]);
      }
    }
#endif
  }
  void thaw() {
    if (frozen_.numel() == 0) return;
    std::fill(panels_.get(), panels_.get() + entries_.size(), nullptr);
    frozen_ = tensor<T, Backend>();
  }
  bool frozen() const { return frozen_.numel() != 0; }

  // On the host in parallel chunks: a serial memset of a 1M-parameter store is a visible slice of a small step.
  void zero_grad() {
    if (unset_) std::fill(unset_.get(), unset_.get() + entries_.size(), std::uint8_t{0});
    maybe_unset_ = false;
    if constexpr (HostBackend<Backend>) {
      constexpr std::int64_t chunk = 1 << 16;
      const std::int64_t n = grads_.numel(), chunks = (n + chunk - 1) / chunk;
      T* g = grads_.data();
      parallel_for(chunks, n, [&](std::int64_t c) {
        const std::int64_t b = c * chunk;
        std::fill(g + b, g + std::min(n, b + chunk), T(0));
      });
    } else {
      grads_.zero();
    }
  }

 private:
  // Clears the gradients still unset (parameters no backward wrote since unset_grads).
  void settle_unset() const {
    if (!maybe_unset_) return;
    for (std::size_t i = 0; i < entries_.size(); ++i)
      if (unset_[i]) {
        T* g = const_cast<T*>(grads_.data()) + entries_[i].offset;
        std::fill(g, g + entries_[i].shape.numel(), T(0));
        unset_[i] = 0;
      }
    maybe_unset_ = false;
  }

  static void initialise(const parameter_init& init, T* out, std::int64_t n, generator& rng) {
    switch (init.how) {
      case parameter_init::kind::constant:
        for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(init.a);
        break;
      case parameter_init::kind::uniform: rng.fill_uniform(out, n, init.a, init.b); break;
      case parameter_init::kind::normal: rng.fill_normal(out, n, init.a, init.b); break;
    }
  }

  std::vector<parameter_entry> entries_;
  std::int64_t trainable_size_ = 0;
  tensor<T, Backend> values_, grads_;
  tensor<T, Backend> frozen_;                  // the inference panels while frozen (freeze_for_inference)
  std::unique_ptr<const T*[]> panels_;         // per entry (parameter::inference_panels points here)
  std::unique_ptr<std::uint8_t[]> unset_;  // per entry (the layers' parameter::grad_unset point here): 1 = unset
  mutable bool maybe_unset_ = false;       // whether any flag may be 1 (grads() is then not free)
};

}  // namespace vae
