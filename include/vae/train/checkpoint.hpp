// Checkpoints: a parameter store as PyTorch-named safetensors, and the optimizer state beside it, written atomically.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "vae/core/error.hpp"
#include "vae/core/parameters.hpp"
#include "vae/io/safetensors.hpp"
#include "vae/train/optimizer.hpp"

namespace vae {

namespace detail {
template <class T, class B>
std::vector<T> host_copy(const T* data, std::int64_t n) {
  std::vector<T> out(static_cast<std::size_t>(n));
  B::copy_to_host(out.data(), data, out.size());
  return out;
}
}  // namespace detail

// Writes every parameter and buffer of `store` under its name (e.g. "enc.0.weight"), so
// `safetensors.torch.load_file` + `model.load_state_dict` read it back into the reference module.
template <class T, class B>
void save_parameters(const std::filesystem::path& path, const parameter_store<T, B>& store,
                     const std::map<std::string, std::string>& metadata = {}) {
  const auto values = detail::host_copy<T, B>(store.values(), store.size());
  io::safetensors_writer w;
  w.metadata = metadata;
  for (const auto& e : store.entries()) w.add(e.name, e.shape, values.data() + e.offset);
  w.save(path);
}

// Reads a file written by save_parameters (or by PyTorch) into `store`. Strict: every parameter of the
// store must be present with its exact shape, and the file may hold nothing else, so a checkpoint of a
// different architecture fails with the first mismatching name instead of loading half a model.
template <class T, class B>
std::map<std::string, std::string> load_parameters(const std::filesystem::path& path, parameter_store<T, B>& store) {
  const auto file = io::safetensors_file::load(path);
  std::vector<T> values(static_cast<std::size_t>(store.size()));
  for (const auto& e : store.entries()) {
    const auto* st = file.find(e.name);
    check(st != nullptr, [&] {
      return cat("'", path.string(), "' has no tensor '", e.name, "': it was written for another model or preset");
    });
    check(st->dims == e.shape, [&] {
      return cat("'", path.string(), "': tensor '", e.name, "' has shape ", st->dims, ", the model expects ", e.shape);
    });
    const auto v = st->template values<T>();
    std::copy(v.begin(), v.end(), values.begin() + e.offset);
  }
  for (const auto& st : file.tensors())
    check(store.find(st.name) != nullptr, [&] {
      return cat("'", path.string(), "' holds tensor '", st.name, "' that this model does not have");
    });
  B::copy_from_host(store.values(), values.data(), values.size());
  return file.metadata;
}

// The resumable part of training: optimizer state tensors, its step count, and the caller's counters
// (epoch, global step, ...) as metadata.
template <class T, class B, class Opt>
  requires Optimizer<Opt, T, B>
void save_optimizer_state(const std::filesystem::path& path, Opt& optimizer, const parameter_store<T, B>& /*store*/,
                          const std::map<std::string, std::string>& metadata = {}) {
  io::safetensors_writer w;
  w.metadata = metadata;
  optimizer.visit_state([&](const std::string& name, tensor<T, B>& t) {
    const auto v = detail::host_copy<T, B>(t.data(), t.numel());
    w.add(name, t.shape(), v.data());
  });
  const std::int64_t step = optimizer.step_count();
  w.add(optimizer_step_name, shape{1}, &step);
  w.save(path);
}

template <class T, class B, class Opt>
  requires Optimizer<Opt, T, B>
std::map<std::string, std::string> load_optimizer_state(const std::filesystem::path& path, Opt& optimizer,
                                                        const parameter_store<T, B>& store) {
  const auto file = io::safetensors_file::load(path);
  optimizer.prepare(store);
  optimizer.visit_state([&](const std::string& name, tensor<T, B>& t) {
    const auto& st = file.at(name);
    check(st.dims == t.shape(), [&] {
      return cat("'", path.string(), "': optimizer state '", name, "' has shape ", st.dims, ", expected ", t.shape(),
                 " (a checkpoint of another model?)");
    });
    const auto v = st.template values<T>();
    B::copy_from_host(t.data(), v.data(), v.size());
  });
  optimizer.set_step_count(file.at(optimizer_step_name).template values<std::int64_t>().at(0));
  return file.metadata;
}

}  // namespace vae
