// Helpers shared by the tests: fixture paths and random tensors.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "vae/core/memory_format.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"
#include "vae/io/safetensors.hpp"
#include "vae/testing/gradcheck.hpp"
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

// The largest |difference| between one layer run on a batch of n images (x_image and dy_image: one image's shape
// without the batch) and its twin run on each image alone: outputs, input gradients and the summed parameter
// gradients. How the tests check that a kernel's cut of a batch into chunks (and per-thread sums) changes nothing.
template <class Layer>
double batch_vs_single_images(const Layer& proto, std::int64_t n, shape x_image, shape dy_image, generator& rng) {
  twin_layers<Layer> t(proto, rng);
  std::vector<std::int64_t> xs{n}, dys{n}, x1{1}, dy1{1};
  for (std::size_t i = 0; i < x_image.rank(); ++i) xs.push_back(x_image[i]), x1.push_back(x_image[i]);
  for (std::size_t i = 0; i < dy_image.rank(); ++i) dys.push_back(dy_image[i]), dy1.push_back(dy_image[i]);
  const auto x = random_tensor<double>(shape(xs), rng), dy = random_tensor<double>(shape(dys), rng);
  const std::int64_t img = x_image.numel(), out = dy_image.numel();
  t.zero_grad();
  const tensor<double> y = t.a.forward(x);
  const tensor<double> dx = t.a.backward(dy);
  double max_err = 0;
  for (std::int64_t b = 0; b < n; ++b) {
    tensor<double> xi{shape(x1)}, dyi{shape(dy1)};
    std::copy(x.data() + b * img, x.data() + (b + 1) * img, xi.data());
    std::copy(dy.data() + b * out, dy.data() + (b + 1) * out, dyi.data());
    const auto& yi = t.b.forward(xi);
    for (std::int64_t i = 0; i < out; ++i) max_err = std::max(max_err, std::abs(yi[i] - y[b * out + i]));
    const auto& dxi = t.b.backward(dyi);
    for (std::int64_t i = 0; i < img; ++i) max_err = std::max(max_err, std::abs(dxi[i] - dx[b * img + i]));
  }
  for (std::int64_t i = 0; i < t.sa.size(); ++i)
    max_err = std::max(max_err, std::abs(t.sa.grads()[i] - t.sb.grads()[i]));
  return max_err;
}

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

// Finite differences (double) of a layer's input and parameter gradients at a random input of NCHW shape x_shape,
// passed channels-last when asked; every derivative the checker compares is counted.
template <class Layer>
void check_layer_grads(Layer& layer, shape x_shape, std::uint64_t seed, bool channels_last = false) {
  generator rng(seed);
  parameter_store<double> store;
  store.attach(layer, rng);
  auto x = random_tensor<double>(x_shape, rng);
  if (channels_last) x = to_channels_last(x);
  const auto report = testing::check_layer_gradients(layer, store, x);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == layer_checks(x, store));
}

// A convolution layer's forward, input gradient and parameter gradients against the PyTorch fixture `fixture`
// (float32: x, r = the output gradient, y, dx, dweight, dbias).
template <class Layer>
void check_conv_parity(Layer& layer, const std::string& fixture, const std::string& label) {
  const auto f = golden(fixture);
  generator rng(0);
  parameter_store<float> store;
  store.attach(layer, rng);
  load_into(layer.weight(), f, "weight");
  load_into(layer.bias(), f, "bias");
  const auto x = f.at("x").to_tensor<float>();
  const auto r = f.at("r").to_tensor<float>();
  require_parity(layer.forward(x), f, "y", label + " forward");
  store.zero_grad();
  require_parity(layer.backward(r), f, "dx", label + " dx");
  tensor<float> dw(layer.weight().shape), db(layer.bias().shape);
  std::copy(layer.weight().grad, layer.weight().grad + dw.numel(), dw.data());
  std::copy(layer.bias().grad, layer.bias().grad + db.numel(), db.data());
  require_parity(dw, f, "dweight", label + " dweight");
  require_parity(db, f, "dbias", label + " dbias");
}

}  // namespace vae::test
