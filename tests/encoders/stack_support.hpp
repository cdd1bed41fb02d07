// Helpers for the encoder/decoder tests: whole-stack PyTorch parity and state_dict name/shape checks.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

namespace vae::test {

// Loads every parameter "p.<name>" of the fixture (names as the store gives them), runs forward on "x"
// (parity with "y"), backward with "r" (parity of "dx" when check_dx, and of every gradient "g.<name>" when
// check_grads). T = double runs the model in double on the fixture's float32 values.
template <class M, class T>
void require_stack_parity(M& model, parameter_store<T>& store, const io::safetensors_file& f,
                          const std::string& label, bool check_dx, double atol = 1e-5, double rtol = 1e-4,
                          bool check_grads = true) {
  for (const auto& e : store.entries()) {
    const auto& st = f.at("p." + e.name);
    check_shape(st.dims, e.shape, ("fixture 'p." + e.name + "'").c_str());
    const auto v = st.template values<T>();
    std::copy(v.begin(), v.end(), store.values() + e.offset);
  }
  const auto x = f.at("x").template to_tensor<T>();
  const auto r = f.at("r").template to_tensor<T>();
  require_parity(model.forward(x), f, "y", label + " forward", atol, rtol);
  store.zero_grad();
  const auto& dx = model.backward(r);
  if (check_dx) require_parity(dx, f, "dx", label + " dx", atol, rtol);
  if (!check_grads) return;
  for (const auto& e : store.entries()) {
    tensor<T> g(e.shape);
    std::copy(store.grads() + e.offset, store.grads() + e.offset + e.shape.numel(), g.data());
    require_parity(g, f, "g." + e.name, label + " d" + e.name, atol, rtol);
  }
}

// Attaches `model` (double) to `store`, drawn from `seed`, checks its gradients against finite differences on a
// random input of `x_shape` (every input element and trainable parameter, sampled as layer_checks counts them), and
// returns the number of store entries. The model's parameters live in `store`: keep it while the model is used.
template <class M>
std::size_t require_gradients(M& model, parameter_store<double>& store, const shape& x_shape, std::uint64_t seed) {
  generator rng(seed);
  store.attach(model, rng);
  auto x = random_tensor<double>(x_shape, rng);
  const auto report = testing::check_layer_gradients(model, store, x);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == layer_checks(x, store));
  return store.entries().size();
}
// The same with a store of its own, for a model that is not used afterwards: when this returns, the store is gone
// and the model's parameters point nowhere until it is attached again.
template <class M>
std::size_t require_gradients(M& model, const shape& x_shape, std::uint64_t seed) {
  parameter_store<double> store;
  return require_gradients(model, store, x_shape, seed);
}

// The store's entries are exactly `expected` (PyTorch state_dict order, names and shapes).
inline void require_names(const parameter_store<float>& store,
                          const std::vector<std::pair<std::string, shape>>& expected) {
  REQUIRE(store.entries().size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(store.entries()[i].name == expected[i].first);
    CHECK(store.entries()[i].shape == expected[i].second);
  }
}

// backward ADDS into parameter gradients: a second backward with the same dy doubles every gradient.
template <class M>
void require_accumulates(M& model, parameter_store<double>& store, const tensor<double>& x, generator& rng) {
  const auto& y = model.forward(x);
  auto dy = random_tensor<double>(y.shape(), rng);
  store.zero_grad();
  model.backward(dy);
  const std::vector<double> once(store.grads(), store.grads() + store.size());
  model.backward(dy);
  for (std::int64_t i = 0; i < store.size(); ++i) CHECK(store.grads()[i] == doctest::Approx(2 * once[i]));
}

}  // namespace vae::test
