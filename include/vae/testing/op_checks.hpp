// The checks the ops × backends driver runs on one OpCase: finite differences (through check_gradient), float
// against double exactness, a host reference, and one backend against another (through compare); each refuses a
// check that compared nothing.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "vae/core/rng.hpp"
#include "vae/testing/gradcheck.hpp"
#include "vae/testing/op_case.hpp"
#include "vae/testing/parity.hpp"

namespace vae::testing {

// Host copies of a case's buffers, every element type held as double (the indices and counts of small test
// shapes are exact in double).
using host_buffers = std::vector<std::vector<double>>;

// What one run of a case on a backend produced: outputs, inputs after the call (in-place updates), input gradients.
struct op_run {
  host_buffers out, in_after, grad;
};

// The result of one check: ok, how many elements (derivatives) it compared, and what failed.
struct op_check_report {
  bool ok = true;
  std::int64_t checked = 0;
  std::string message;

  void fail(const std::string& why) {
    ok = false;
    message += "\n  " + why;
  }
  void add(const parity_report& r, std::int64_t n, const std::string& what) {
    checked += n;
    if (!r.ok) fail(r.summary(what));
  }
};

namespace op_detail {
template <class E, class B>
void upload(tensor<E, B>& t, const std::vector<double>& host) {
  std::vector<E> h(host.size());
  for (std::size_t i = 0; i < host.size(); ++i) h[i] = static_cast<E>(host[i]);
  B::copy_from_host(t.data(), h.data(), h.size());
}
template <class E, class B>
std::vector<double> download(const tensor<E, B>& t) {
  std::vector<E> h(static_cast<std::size_t>(t.numel()));
  B::copy_to_host(h.data(), t.data(), h.size());
  return std::vector<double>(h.begin(), h.end());
}
template <class E, class B>
void zero(tensor<E, B>& t) {
  B::fill(t.data(), static_cast<std::size_t>(t.numel()), E(0));
}
template <class T, class B, class F>
void for_slot(typename op_buffers<T, B>::slot& s, F&& f) {
  switch (s.type) {
    case element::value:
      f(s.value);
      break;
    case element::wide:
      f(s.wide);
      break;
    case element::index:
      f(s.index);
      break;
    case element::count:
      f(s.count);
      break;
  }
}
template <class T, class B>
host_buffers download_all(std::vector<typename op_buffers<T, B>::slot>& slots) {
  host_buffers h;
  for (auto& s : slots) for_slot<T, B>(s, [&](auto& t) { h.push_back(download(t)); });
  return h;
}
inline bool float_valued(const buffer_spec& s) { return s.type == element::value || s.type == element::wide; }
}  // namespace op_detail

// Inputs for a signature, from one seed (the same inputs for every backend and scalar type).
inline host_buffers make_inputs(const op_signature& sig, std::uint64_t seed) {
  generator rng(seed);
  host_buffers in;
  for (const auto& s : sig.inputs) {
    std::vector<double> v(static_cast<std::size_t>(s.numel));
    for (auto& x : v) {
      switch (s.how) {
        case fill::normal:
          x = s.scale * rng.normal();
          break;
        case fill::positive:
          x = 0.5 + s.scale * rng.uniform();
          break;
        case fill::probability:
          x = rng.uniform();
          break;
        case fill::integer:
          x = std::floor(rng.uniform() * (2 * s.scale + 1)) - s.scale;
          break;
        case fill::index:
          x = std::min(std::floor(rng.uniform() * static_cast<double>(s.bound)), s.bound - 1.0);
          break;
        case fill::zeros:
          x = 0;
          break;
      }
    }
    in.push_back(std::move(v));
  }
  return in;
}

// The seeds of the backward: random for the outputs in the loss, 1 for seed_one outputs, 0 for the others.
inline host_buffers make_seeds(const op_signature& sig, std::uint64_t seed) {
  generator rng(seed);
  host_buffers out;
  for (const auto& s : sig.outputs) {
    std::vector<double> v(static_cast<std::size_t>(s.numel), 0.0);
    if (s.differentiable && op_detail::float_valued(s))
      for (auto& x : v) x = s.seed_one ? 1.0 : rng.normal();
    out.push_back(std::move(v));
  }
  return out;
}

// The inputs as T would hold them (every backend and scalar type then starts from the same numbers).
template <class T>
host_buffers rounded_to(const host_buffers& in, const op_signature& sig) {
  host_buffers r = in;
  for (std::size_t i = 0; i < r.size(); ++i)
    if (sig.inputs[i].type == element::value)
      for (auto& x : r[i]) x = static_cast<double>(static_cast<T>(x));
  return r;
}

// Random starting values for the input gradients (to tell a backward that adds from one that writes).
inline host_buffers make_grad_start(const op_signature& sig, std::uint64_t seed) {
  generator rng(seed);
  host_buffers out;
  for (const auto& s : sig.inputs) {
    std::vector<double> v(static_cast<std::size_t>(s.numel), 0.0);
    if (s.differentiable && op_detail::float_valued(s))
      for (auto& x : v) x = rng.normal();
    out.push_back(std::move(v));
  }
  return out;
}

// Runs the case once on backend B in T: uploads the inputs, runs the forward and (with seeds) the backward on
// gradients that start at zero (or at grad_start), downloads everything.
template <OpCase C, class B, class T>
op_run run_case(const typename C::config& c, const op_signature& sig, const host_buffers& in, const host_buffers* seeds,
                const host_buffers* grad_start = nullptr) {
  op_buffers<T, B> io(sig);
  for (std::size_t i = 0; i < in.size(); ++i)
    op_detail::for_slot<T, B>(io.inputs()[i], [&](auto& t) { op_detail::upload(t, in[i]); });
  for (auto& s : io.outputs()) op_detail::for_slot<T, B>(s, [&](auto& t) { op_detail::zero(t); });
  C::template forward<B>(c, io);
  op_run r;
  r.out = op_detail::download_all<T, B>(io.outputs());
  r.in_after = op_detail::download_all<T, B>(io.inputs());
  if constexpr (DifferentiableOpCase<C>) {
    if (seeds) {
      for (std::size_t i = 0; i < seeds->size(); ++i)
        op_detail::for_slot<T, B>(io.seeds()[i], [&](auto& t) { op_detail::upload(t, (*seeds)[i]); });
      for (std::size_t i = 0; i < io.grads().size(); ++i)
        op_detail::for_slot<T, B>(io.grads()[i], [&](auto& t) {
          if (grad_start)
            op_detail::upload(t, (*grad_start)[i]);
          else
            op_detail::zero(t);
        });
      C::template backward<B>(c, io);
      r.grad = op_detail::download_all<T, B>(io.grads());
    }
  }
  return r;
}

// Finite differences in double on backend B: loss = Σ seed·output over the outputs in the loss; every
// differentiable input checked. The report (check_gradient's) fails when nothing was checked or every checked
// derivative is zero.
template <DifferentiableOpCase C, class B = cpu>
gradcheck_report check_op_gradient(const typename C::config& c, std::uint64_t seed) {
  const op_signature sig = C::signature(c);
  host_buffers in = make_inputs(sig, seed);
  const host_buffers seeds = make_seeds(sig, seed + 1);
  const op_run analytic = run_case<C, B, double>(c, sig, in, &seeds);
  auto loss = [&] {
    const op_run r = run_case<C, B, double>(c, sig, in, nullptr);
    double s = 0;
    for (std::size_t o = 0; o < r.out.size(); ++o)
      for (std::size_t k = 0; k < r.out[o].size(); ++k) s += seeds[o][k] * r.out[o][k];
    return s;
  };
  gradcheck_options opt;
  opt.eps = C::checks.fd_eps;
  opt.atol = C::checks.fd.atol;
  opt.rtol = C::checks.fd.rtol;
  gradcheck_report report;
  for (std::size_t i = 0; i < sig.inputs.size(); ++i) {
    // Not differentiable, or an optional input this config leaves out (a bias of size 0): nothing to difference.
    if (!sig.inputs[i].differentiable || !op_detail::float_valued(sig.inputs[i]) || sig.inputs[i].numel == 0) continue;
    check_gradient(loss, in[i].data(), analytic.grad[i].data(), sig.inputs[i].numel, sig.inputs[i].name, opt, report);
  }
  if (report.checked == 0)
    detail::refuse(report, "no differentiable input: a differentiable case must have one to check");
  else if (report.nonzero == 0)
    detail::refuse(report, cat("all ", report.checked, " checked derivatives are zero: nothing was tested"));
  return report;
}

// The backward adds to the gradients its spec says it adds to and writes the others: started from random values S,
// each gradient is the one started from zero plus S (adds) or equal to it (writes), in double on backend B.
template <DifferentiableOpCase C, class B = cpu>
op_check_report check_op_accumulation(const typename C::config& c, std::uint64_t seed) {
  const op_signature sig = C::signature(c);
  const host_buffers in = make_inputs(sig, seed);
  const host_buffers seeds = make_seeds(sig, seed + 1);
  const host_buffers start = make_grad_start(sig, seed + 2);
  const op_run zero = run_case<C, B, double>(c, sig, in, &seeds);
  const op_run started = run_case<C, B, double>(c, sig, in, &seeds, &start);
  op_check_report rep;
  for (std::size_t i = 0; i < sig.inputs.size(); ++i) {
    const auto& s = sig.inputs[i];
    if (!s.differentiable || !op_detail::float_valued(s) || s.numel == 0) continue;
    std::vector<double> want = zero.grad[i];
    if (s.grad_accumulates)
      for (std::size_t k = 0; k < want.size(); ++k) want[k] += start[i][k];
    rep.add(compare(started.grad[i].data(), want.data(), s.numel, 1e-12, 1e-12), s.numel,
            cat("d", s.name, s.grad_accumulates ? " (added to)" : " (written)"));
  }
  if (rep.checked == 0) rep.fail("nothing compared: no differentiable input");
  return rep;
}

// Exact ops: the forward on float inputs equals the double forward on the same inputs rounded to float (copies,
// selections and comparisons round once or not at all), every output element for element.
template <OpCase C>
op_check_report check_op_exact(const typename C::config& c, std::uint64_t seed) {
  const op_signature sig = C::signature(c);
  const host_buffers in = rounded_to<float>(make_inputs(sig, seed), sig);
  const op_run f = run_case<C, cpu, float>(c, sig, in, nullptr);
  const op_run d = run_case<C, cpu, double>(c, sig, in, nullptr);
  op_check_report rep;
  for (std::size_t o = 0; o < sig.outputs.size(); ++o) {
    std::vector<double> rounded = d.out[o];
    if (sig.outputs[o].type == element::value)
      for (auto& x : rounded) x = static_cast<double>(static_cast<float>(x));
    rep.add(compare(f.out[o].data(), rounded.data(), static_cast<std::int64_t>(rounded.size()), 0, 0),
            static_cast<std::int64_t>(rounded.size()), "float vs double " + sig.outputs[o].name);
  }
  if (rep.checked == 0) rep.fail("nothing compared: the case has no outputs");
  return rep;
}

// The outputs of a double run on backend B against the case's host formula (outputs it leaves empty are skipped).
template <ReferencedOpCase C, class B = cpu>
op_check_report check_op_reference(const typename C::config& c, std::uint64_t seed) {
  const op_signature sig = C::signature(c);
  const host_buffers in = make_inputs(sig, seed);
  const op_run d = run_case<C, B, double>(c, sig, in, nullptr);
  const host_buffers want = C::reference(c, in);
  op_check_report rep;
  for (std::size_t o = 0; o < want.size() && o < d.out.size(); ++o) {
    if (want[o].empty()) continue;
    if (want[o].size() != d.out[o].size()) {
      rep.fail(cat(sig.outputs[o].name, ": the reference has ", want[o].size(), " values, the op ", d.out[o].size()));
      continue;
    }
    const auto tol = C::checks.reference;
    rep.add(compare(d.out[o].data(), want[o].data(), static_cast<std::int64_t>(want[o].size()), tol.atol, tol.rtol),
            static_cast<std::int64_t>(want[o].size()), "reference " + sig.outputs[o].name);
  }
  if (rep.checked == 0) rep.fail("nothing compared: the reference fills no output");
  return rep;
}

// Backend Other against backend Base in T on the same inputs, seeds and starting gradients (random, so a backend
// that writes where the other adds differs): outputs, inputs after the call and input gradients. Exact cases
// compare with equality.
template <OpCase C, class Other, class Base, class T>
op_check_report check_op_parity(const typename C::config& c, std::uint64_t seed) {
  const op_signature sig = C::signature(c);
  const host_buffers in = rounded_to<T>(make_inputs(sig, seed), sig);
  const host_buffers seeds = rounded_to<T>(make_seeds(sig, seed + 1), op_signature{sig.outputs, {}});
  const host_buffers start = rounded_to<T>(make_grad_start(sig, seed + 2), sig);
  const op_run base = run_case<C, Base, T>(c, sig, in, &seeds, &start);
  const op_run other = run_case<C, Other, T>(c, sig, in, &seeds, &start);
  const tolerance tol = C::checks.exact            ? tolerance{0, 0}
                        : std::is_same_v<T, float> ? C::checks.parity_float
                                                   : C::checks.parity_double;
  op_check_report rep;
  auto compare_all = [&](const host_buffers& a, const host_buffers& b, const std::vector<buffer_spec>& specs,
                         const char* what, bool only_differentiable) {
    for (std::size_t i = 0; i < a.size() && i < specs.size(); ++i) {
      if (only_differentiable && !specs[i].differentiable) continue;
      const auto n = static_cast<std::int64_t>(b[i].size());
      const bool exact = !op_detail::float_valued(specs[i]);
      rep.add(compare(a[i].data(), b[i].data(), n, exact ? 0 : tol.atol, exact ? 0 : tol.rtol), n,
              cat(Other::name, " vs ", Base::name, " ", what, specs[i].name));
    }
  };
  compare_all(other.out, base.out, sig.outputs, "", false);
  compare_all(other.in_after, base.in_after, sig.inputs, "input after the call: ", false);
  compare_all(other.grad, base.grad, sig.inputs, "d", true);
  if (rep.checked == 0) rep.fail("nothing compared");
  return rep;
}

}  // namespace vae::testing
