// Shared by the optimizer tests: the fixture MLP of tools/fixtures/optim.py (Linear(6,8) → ReLU → Linear(8,3), MSE),
// trained by a vae optimizer and compared with PyTorch's weights after 10 steps.
#pragma once
#include <string>
#include <vector>

#include "../test_support.hpp"
#include "vae/layers/activations.hpp"
#include "vae/layers/linear.hpp"
#include "vae/layers/sequential.hpp"

namespace vae::test {

template <class T>
struct optim_mlp {
  Sequential<Linear<T>, ReLU<T>, Linear<T>> net{Linear<T>(6, 8), ReLU<T>(), Linear<T>(8, 3)};
  parameter_store<T> store;
  tensor<T> x, target, dy;

  explicit optim_mlp(const io::safetensors_file& f) {
    generator rng(0);
    store.attach(net, rng);
    for (const auto& e : store.entries()) {
      const auto& st = f.at("init." + e.name);
      check_shape(st.dims, e.shape, ("fixture 'init." + e.name + "'").c_str());
      const auto v = st.template values<T>();
      std::copy(v.begin(), v.end(), store.values() + e.offset);
    }
    x = f.at("x").template to_tensor<T>();
    target = f.at("t").template to_tensor<T>();
  }

  // MSE loss (mean over all elements) with its gradient written into the store: dL/dy = 2(y − t)/numel.
  double loss_and_grad() {
    store.zero_grad();
    const auto& y = net.forward(x);
    dy.resize(y.shape());
    double loss = 0;
    const auto n = y.numel();
    for (std::int64_t i = 0; i < n; ++i) {
      const T d = y[i] - target[i];
      loss += static_cast<double>(d) * static_cast<double>(d);
      dy[i] = T(2) * d / static_cast<T>(n);
    }
    net.backward(dy);
    return loss / static_cast<double>(n);
  }

  // Runs `steps` steps of `opt`, comparing each step's loss and the final weights with the fixture
  // entries "<run>.loss" and "<run>.<name>" (".f64" appended for double); prints max abs/rel errors.
  template <class Opt>
  void train_and_compare(Opt& opt, const io::safetensors_file& f, const std::string& run, double atol, double rtol,
                         int steps = 10) {
    const std::string suffix = std::is_same_v<T, double> ? ".f64" : "";
    std::vector<double> losses;
    for (int s = 0; s < steps; ++s) {
      losses.push_back(loss_and_grad());
      opt.step(store);
    }
    const auto expected_loss = f.at(run + ".loss" + suffix).template values<double>();
    REQUIRE(expected_loss.size() == losses.size());
    const auto rl = testing::compare(losses.data(), expected_loss.data(), steps, atol, rtol);
    std::vector<double> expected;
    for (const auto& e : store.entries()) {
      const auto& st = f.at(run + "." + e.name + suffix);
      check_shape(st.dims, e.shape, ("fixture '" + run + "." + e.name + "'").c_str());
      const auto v = st.template values<double>();
      expected.insert(expected.end(), v.begin(), v.end());
    }
    REQUIRE(static_cast<std::int64_t>(expected.size()) == store.size());
    const auto rw = testing::compare(store.values(), expected.data(), store.size(), atol, rtol);
    const std::string label = run + (suffix.empty() ? " (float32)" : " (float64)");
    MESSAGE("parity " << label << " " << rl.summary("losses over " + std::to_string(steps) + " steps"));
    MESSAGE("parity " << label << " " << rw.summary("all weights after " + std::to_string(steps) + " steps"));
    CHECK_MESSAGE(rl.ok, rl.summary("losses"));
    CHECK_MESSAGE(rw.ok, rw.summary("weights"));
  }
};

// Float32 parity at the usual tolerance; float64 against PyTorch's float64 run of the same steps, tight.
template <class T>
constexpr double parity_atol = std::is_same_v<T, double> ? 1e-10 : 1e-5;
template <class T>
constexpr double parity_rtol = std::is_same_v<T, double> ? 1e-9 : 1e-4;

// A module with one trainable parameter and one non-trainable buffer, for checking that optimizers and
// clipping touch only [0, trainable_size()).
template <class T>
struct param_and_buffer {
  parameter<T> w, running;
  param_and_buffer(std::int64_t n, std::int64_t m) {
    w.shape = {n};
    w.init = parameter_init::constant(1.0);
    running.shape = {m};
    running.init = parameter_init::constant(7.0);
    running.trainable = false;
  }
  template <class V>
  void visit_parameters(const std::string& prefix, V&& visit) {
    visit(prefix + "running", running);  // visited first: the store still lays trainables out first
    visit(prefix + "w", w);
  }
};

// One trainable double (w = 1) beside a buffer (7), attached to a store: for optimizer steps worked by hand.
struct one_element {
  param_and_buffer<double> module{1, 2};
  parameter_store<double> store;
  one_element() {
    generator rng(0);
    store.attach(module, rng);  // w = 1, running = 7
  }
  double& p() { return store.values()[0]; }
  double& g() { return store.grads()[0]; }
};

}  // namespace vae::test
