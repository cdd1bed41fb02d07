// Op test case vocabulary: the buffers one op call reads and writes (op_signature), their storage on a backend
// (op_buffers), the tolerances of the checks (op_case_checks) and the OpCase concept the ops × backends driver runs.
#pragma once
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vae/backend/cpu.hpp"
#include "vae/core/error.hpp"
#include "vae/core/tensor.hpp"

namespace vae::testing {

// What one buffer holds: the case's scalar type T (float or double), double whatever T is (sums an op returns in
// double), int32 (indices, argmax) or int64 (counts).
enum class element { value, wide, index, count };

// How the driver fills an input: normal(0, scale); positive: uniform in [0.5, 0.5 + scale]; probability: uniform
// in [0, 1]; integer: whole numbers in [−scale, scale] (products and sums exact in float, so ties are exact ties);
// index: whole numbers in [0, bound); zeros.
enum class fill { normal, positive, probability, integer, index, zeros };

struct buffer_spec {
  std::string name;
  std::int64_t numel = 0;
  element type = element::value;
  fill how = fill::normal;
  double scale = 1.0;
  std::int64_t bound = 0;
  // An input: its derivative is checked by finite differences and its gradient compared across backends. An
  // output: part of the loss Σ seed·output whose gradient the backward computes (false: saved statistics, argmax).
  bool differentiable = true;
  // An output whose backward seed is 1 everywhere: ops that return the gradient of their value with it (losses).
  bool seed_one = false;
  // An input whose gradient the backward ADDS to (parameter gradients, dmu of the reparameterisation); false: it
  // WRITES it. The driver starts the gradients from random values to tell the two apart.
  bool grad_accumulates = false;
};

// The buffers of one op call: inputs (read; an input the op updates in place is compared after the call too) and
// outputs (written by the forward; the backward may read them, as saved statistics).
struct op_signature {
  std::vector<buffer_spec> inputs, outputs;
};

struct tolerance {
  double atol = 0, rtol = 0;
};

// The checks of one case. fd: |analytic − numeric| ≤ atol + rtol·max(|analytic|, |numeric|) with step fd_eps (cpu,
// double); exact: the forward on float inputs equals the double forward rounded to float, element for element,
// and the backends agree exactly; reference: outputs against the case's own host formula (double); parity: another
// backend against the cpu on the same inputs, per scalar type.
struct op_case_checks {
  tolerance fd{1e-6, 1e-5};
  double fd_eps = 1e-6;
  bool exact = false;
  tolerance reference{1e-12, 1e-10};
  tolerance parity_float{1e-5, 1e-4};
  tolerance parity_double{1e-12, 1e-10};
};

// Storage of one case's buffers on backend B: inputs, outputs, the input gradients and the output seeds, each in
// the element type its spec names. The accessors check the type, so a case that reads a buffer as the wrong kind
// fails with the buffer's name instead of a null pointer.
template <class T, class B>
class op_buffers {
 public:
  struct slot {
    element type = element::value;
    std::string name;
    tensor<T, B> value;
    tensor<double, B> wide;
    tensor<std::int32_t, B> index;
    tensor<std::int64_t, B> count;
  };

  explicit op_buffers(const op_signature& sig) {
    for (const auto& s : sig.inputs) {
      in_.push_back(make(s, ""));
      grad_.push_back(make(s, "d"));
    }
    for (const auto& s : sig.outputs) {
      out_.push_back(make(s, ""));
      seed_.push_back(make(s, "seed of "));
    }
  }

  T* in(std::size_t i) { return pick(in_, i, element::value).value.data(); }
  double* in_wide(std::size_t i) { return pick(in_, i, element::wide).wide.data(); }
  std::int32_t* in_index(std::size_t i) { return pick(in_, i, element::index).index.data(); }
  T* out(std::size_t i) { return pick(out_, i, element::value).value.data(); }
  double* out_wide(std::size_t i) { return pick(out_, i, element::wide).wide.data(); }
  std::int32_t* out_index(std::size_t i) { return pick(out_, i, element::index).index.data(); }
  std::int64_t* out_count(std::size_t i) { return pick(out_, i, element::count).count.data(); }
  T* grad(std::size_t i) { return pick(grad_, i, element::value).value.data(); }
  double* grad_wide(std::size_t i) { return pick(grad_, i, element::wide).wide.data(); }
  const T* seed(std::size_t i) { return pick(seed_, i, element::value).value.data(); }
  const double* seed_wide(std::size_t i) { return pick(seed_, i, element::wide).wide.data(); }
  // For ops that return a value to the host (a loss, a dot product): stores it in the double output i.
  void set_out_wide(std::size_t i, double v) { B::copy_from_host(out_wide(i), &v, 1); }

  std::vector<slot>& inputs() { return in_; }
  std::vector<slot>& outputs() { return out_; }
  std::vector<slot>& grads() { return grad_; }
  std::vector<slot>& seeds() { return seed_; }

 private:
  static slot make(const buffer_spec& s, const char* prefix) {
    slot k;
    k.type = s.type;
    k.name = prefix + s.name;
    const shape n{s.numel};
    switch (s.type) {
      case element::value:
        k.value.resize(n);
        break;
      case element::wide:
        k.wide.resize(n);
        break;
      case element::index:
        k.index.resize(n);
        break;
      case element::count:
        k.count.resize(n);
        break;
    }
    return k;
  }
  static slot& pick(std::vector<slot>& v, std::size_t i, element want) {
    check(i < v.size(),
          [&] { return cat("op_buffers: buffer ", i, " does not exist (", v.size(), " in the signature)"); });
    check(v[i].type == want, [&] {
      return cat("op_buffers: buffer '", v[i].name, "' is read as element ", static_cast<int>(want),
                 " but its spec says ", static_cast<int>(v[i].type));
    });
    return v[i];
  }

  std::vector<slot> in_, out_, grad_, seed_;
};

// One op's test case. `op` names the op tag as its kernel specialisations spell it (kernel<softmax_op, B> →
// "softmax_op"), `name` the case; configs() lists the shapes it runs at (a few, odd sizes among them); forward
// (and backward, for a differentiable op) run the op on any backend through ops::; on_cuda says whether the cuda
// backend claims the op. A backward reads the seeds and ADDS to or WRITES the input gradients, as each input's
// grad_accumulates says.
template <class C>
concept OpCase = requires(const typename C::config& c, op_buffers<double, cpu>& io) {
  { C::op } -> std::convertible_to<std::string_view>;
  { C::name } -> std::convertible_to<std::string_view>;
  { C::on_cuda } -> std::convertible_to<bool>;
  { C::checks } -> std::convertible_to<op_case_checks>;
  { C::configs() } -> std::same_as<std::vector<typename C::config>>;
  { C::describe(c) } -> std::convertible_to<std::string>;
  { C::signature(c) } -> std::same_as<op_signature>;
  C::template forward<cpu>(c, io);
};

// Whether the case has a backward (is differentiable), and a host reference formula for its outputs.
template <class C>
concept DifferentiableOpCase = OpCase<C> && requires(const typename C::config& c, op_buffers<double, cpu>& io) {
  C::template backward<cpu>(c, io);
};
template <class C>
concept ReferencedOpCase = OpCase<C> &&
    requires(const typename C::config& c, const std::vector<std::vector<double>>& in) {
  { C::reference(c, in) } -> std::same_as<std::vector<std::vector<double>>>;
};

}  // namespace vae::testing
