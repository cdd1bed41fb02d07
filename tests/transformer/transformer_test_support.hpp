// Helpers shared by the transformer tests: loading a store from a fixture by parameter name, comparing its gradients.
#pragma once
#include <algorithm>
#include <string>

#include "../test_support.hpp"
#include "vae/core/parameters.hpp"
#include "vae/models/gpt_prior.hpp"
#include "vae/testing/gradcheck.hpp"

namespace vae::test::transformer {

// Every parameter of `store` from the fixture tensor of the same name (nanoGPT names).
template <class T>
void load_store(parameter_store<T>& store, const io::safetensors_file& f, const std::string& prefix = "") {
  for (const auto& e : store.entries()) {
    const auto& st = f.at(prefix + e.name);
    check_shape(st.dims, e.shape, ("fixture '" + e.name + "'").c_str());
    const auto v = st.template values<T>();
    std::copy(v.begin(), v.end(), store.values() + e.offset);
  }
}

// Each trainable parameter's gradient against the fixture's "<name>.grad"; returns how many tensors were compared.
template <class T>
int require_grad_parity(parameter_store<T>& store, const io::safetensors_file& f, const std::string& label,
                        double atol = 1e-5, double rtol = 1e-4, const std::string& prefix = "") {
  int compared = 0;
  for (const auto& e : store.entries()) {
    if (!e.trainable) continue;
    tensor<T> g(e.shape);
    std::copy(store.grads() + e.offset, store.grads() + e.offset + e.shape.numel(), g.data());
    require_parity(g, f, prefix + e.name + ".grad", label + " d" + e.name, atol, rtol);
    ++compared;
  }
  return compared;
}

// A layer against a fixture of "x", "r", "y" = layer(x), "dx" and "<name>.grad" of sum(y * r): loads the parameters,
// compares the forward, dx and every parameter gradient; returns how many parameter gradients were compared.
template <class Layer>
int require_layer_parity(Layer& layer, parameter_store<float>& store, const io::safetensors_file& f,
                         const std::string& label) {
  load_store(store, f);
  const auto x = f.at("x").to_tensor<float>();
  const auto r = f.at("r").to_tensor<float>();
  require_parity(layer.forward(x), f, "y", label + " forward");
  store.zero_grad();
  require_parity(layer.backward(r), f, "dx", label + " dx");
  return require_grad_parity(store, f, label);
}

// gpt_prior_options with the sizes given and the rest at their defaults.
inline gpt_prior_options prior_options(std::int64_t text_vocab, std::int64_t text_length, std::int64_t image_vocab,
                                       std::int64_t image_height, std::int64_t image_width, std::int64_t n_layer,
                                       std::int64_t n_head, std::int64_t n_embd) {
  gpt_prior_options o;
  o.text_vocab = text_vocab;
  o.text_length = text_length;
  o.image_vocab = image_vocab;
  o.image_height = image_height;
  o.image_width = image_width;
  o.n_layer = n_layer;
  o.n_head = n_head;
  o.n_embd = n_embd;
  return o;
}

// Finite-difference check of a scalar loss in every trainable parameter of `store` (each tensor capped at
// opt.max_checks_per_tensor spread indices) against the gradients in the store.
inline testing::gradcheck_report check_store_gradients(parameter_store<double>& store,
                                                       const std::function<double()>& loss,
                                                       const testing::gradcheck_options& opt) {
  const std::vector<double> grads(store.grads(), store.grads() + store.trainable_size());
  testing::gradcheck_report report;
  for (const auto& e : store.entries())
    if (e.trainable)
      testing::check_gradient(loss, store.values() + e.offset, grads.data() + e.offset, e.shape.numel(), e.name, opt,
                              report);
  return report;
}

// How many derivatives check_store_gradients compares.
inline std::int64_t store_checks(const parameter_store<double>& store, std::int64_t max_checks) {
  std::int64_t n = 0;
  for (const auto& e : store.entries())
    if (e.trainable) n += std::min(e.shape.numel(), max_checks);
  return n;
}

}  // namespace vae::test::transformer
