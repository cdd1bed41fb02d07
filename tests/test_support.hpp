// Helpers shared by the tests: fixture paths and random tensors.
#pragma once
#include <doctest/doctest.h>

#include <string>

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

}  // namespace vae::test
