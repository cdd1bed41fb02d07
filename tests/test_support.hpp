// Helpers shared by the tests: fixture paths and random tensors.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "vae/core/memory_format.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"
#include "vae/io/safetensors.hpp"
#include "vae/testing/parity.hpp"

namespace vae::test {

inline io::safetensors_file golden(const std::string& name) {
  return io::safetensors_file::load(std::string(VAE_GOLDEN_DIR) + "/" + name + ".safetensors");
}

template <class T>
tensor<T> random_tensor(shape s, generator& rng, double stddev = 1.0) {
  tensor<T> t(s);
  rng.fill_normal(t.data(), t.numel(), 0.0, stddev);
  return t;
}

// Two copies of a layer with the same parameter values, each in its own store (a fused path against the plain one).
// Built in place: the stores point into the layers.
template <class Layer>
struct twin_layers {
  using value_type = typename Layer::value_type;
  Layer a, b;
  parameter_store<value_type> sa, sb;
  twin_layers(const Layer& proto, generator& rng) : a(proto), b(proto) {
    sa.attach(a, rng);
    sb.attach(b, rng);
    std::copy(sa.values(), sa.values() + sa.size(), sb.values());
  }
  twin_layers(const twin_layers&) = delete;
  twin_layers& operator=(const twin_layers&) = delete;
  void zero_grad() {
    sa.zero_grad();
    sb.zero_grad();
  }
  // Whether both stores hold the same gradients, bit for bit.
  bool same_grads() {
    return std::equal(sa.grads(), sa.grads() + sa.size(), sb.grads());
  }
};

// How many derivatives testing::check_layer_gradients compares for input `x` and `store`: every input element and
// every trainable parameter entry, each tensor capped at `max_checks` spread indices. Tests assert report.checked
// equals it, so that a tensor left out of the check shows up as a count that does not match.
template <class T, class B>
std::int64_t layer_checks(const tensor<T, B>& x, const parameter_store<T, B>& store, std::int64_t max_checks = 96) {
  std::int64_t n = std::min(x.numel(), max_checks);
  for (const auto& e : store.entries())
    if (e.trainable) n += std::min(e.shape.numel(), max_checks);
  return n;
}

// Copies a fixture tensor into a parameter slice, checking the shape (PyTorch layout == ours).
template <class T>
void load_into(parameter<T>& p, const io::safetensors_file& f, const std::string& name) {
  const auto& st = f.at(name);
  check_shape(st.dims, p.shape, ("fixture '" + name + "'").c_str());
  const auto v = st.values<T>();
  std::copy(v.begin(), v.end(), p.value);
}

// Runs a parity comparison, prints its errors (the note quotes them) and asserts it passed.
template <class T>
void require_parity(const tensor<T>& actual, const io::safetensors_file& f, const std::string& name,
                    const std::string& label, double atol = 1e-5, double rtol = 1e-4) {
  const auto r = testing::compare_with_fixture(actual, f, name, atol, rtol);
  MESSAGE("parity " << label << " " << r.summary(name));
  CHECK_MESSAGE(r.ok, r.summary(name));
}

// [N, C, H, W] → [N, H, W, C] and back (plain loops, independent of the library's transposes).
template <class T>
tensor<T> to_channels_last(const tensor<T>& x) {
  const std::int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  tensor<T> r({n, h, w, c});
  r.set_format(memory_format::channels_last);
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t p = 0; p < h * w; ++p) r.data()[(b * h * w + p) * c + ch] = x.data()[(b * c + ch) * h * w + p];
  return r;
}
template <class T>
tensor<T> to_channels_first(const tensor<T>& x) {
  const std::int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
  tensor<T> r({n, c, h, w});
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t p = 0; p < h * w; ++p) r.data()[(b * c + ch) * h * w + p] = x.data()[(b * h * w + p) * c + ch];
  return r;
}
// max |a − b| over two tensors of one shape.
template <class T>
double max_abs_diff(const tensor<T>& a, const tensor<T>& b) {
  REQUIRE(a.shape() == b.shape());
  double m = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(double(a.data()[i]) - double(b.data()[i])));
  return m;
}

}  // namespace vae::test
