// Helpers for the CUDA tests: random host tensors, a device tensor against its cpu reference (testing::compare,
// reported), and the scalar check and tolerances of the whole-model step tests (vae_step.cu, vqvae_step.cu).
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <type_traits>

#include "vae/backend/cuda.hpp"
#include "vae/backend/cuda/transfer.cuh"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"
#include "vae/testing/parity.hpp"

namespace vae::cuda_test {

template <class T>
tensor<T> random_tensor(shape s, generator& rng, double stddev = 1.0) {
  tensor<T> t(s);
  rng.fill_normal(t.data(), t.numel(), 0.0, stddev);
  return t;
}

// Downloads `device` and compares it with the cpu reference, printing the errors.
template <class T>
void require_close(const tensor<T, cuda>& device, const tensor<T>& reference, const std::string& label, double atol,
                   double rtol) {
  REQUIRE(device.shape() == reference.shape());
  const auto host = to<cpu>(device);
  const auto r = testing::compare(host.data(), reference.data(), host.numel(), atol, rtol);
  MESSAGE("cuda vs cpu " << r.summary(label) << " (atol " << atol << ", rtol " << rtol << ")");
  CHECK_MESSAGE(r.ok, r.summary(label));
}

// |device − host| ≤ rtol·|host| for one scalar (a loss, a perplexity), printing both.
inline void check_scalar(double device, double host, double rtol, const std::string& label) {
  const double err = std::abs(device - host);
  MESSAGE("cuda vs cpu " << label << ": " << device << " vs " << host << " (abs err " << err << ")");
  CHECK_MESSAGE(err <= rtol * std::abs(host), label << ": " << device << " vs " << host);
}

// Tolerances of the whole-model step tests (cpu vs cuda after a few Adam steps). Both sides compute the policy and
// quantizer terms in double; what differs is the layers' float/double arithmetic (cuBLAS vs the cpu GEMM's summation
// order, FMA contraction) and the device's exp/log in the last bit.
//   float:  losses rtol 1e-5; gradients atol 1e-5 + rtol 1e-3 (gradients of ~1e-2 sums of float terms); parameters
//           atol 1e-6 + rtol 1e-5. Adam runs with eps = 1e-3 so that its update lr·m/(√v + eps) is Lipschitz in the
//           gradient (constant lr/eps = 1): with the default eps, a gradient of ~1e-7 whose float noise flips its
//           sign would move the two parameters 2·lr apart, a difference of rounding, not of the kernels.
//   double: losses rtol 1e-11, gradients atol 1e-11 + rtol 1e-9, parameters atol 1e-12 + rtol 1e-10.
template <class T>
struct step_tolerance {
  static constexpr bool single = std::is_same_v<T, float>;
  static constexpr double loss_rtol = single ? 1e-5 : 1e-11;
  static constexpr double grad_atol = single ? 1e-5 : 1e-11, grad_rtol = single ? 1e-3 : 1e-9;
  static constexpr double param_atol = single ? 1e-6 : 1e-12, param_rtol = single ? 1e-5 : 1e-10;
};

}  // namespace vae::cuda_test
