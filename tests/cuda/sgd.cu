// CUDA SGD step (kernel<sgd_op, cuda>) against SGD<T, cpu> over 5 steps: plain, momentum + dampening, Nesterov,
// weight decay; parameters and momentum buffer.
#include "vae/backend/cuda/sgd.cuh"
#include "vae/layers/linear.hpp"

#include <algorithm>

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

// The same per-element formula in T on both sides; the device may contract a·b + c into one FMA (one rounding
// fewer) per operation. Parameters ~0.2 moved by lr·g ~ 0.05 per step: float atol 1e-6 / rtol 1e-5 after 5
// steps, double 1e-14 / 1e-13.
TEST_CASE_TEMPLATE("SGD<T, cuda> steps match SGD<T, cpu>", T, float, double) {
  const double atol = std::is_same_v<T, float> ? 1e-6 : 1e-14, rtol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
  const sgd_options variants[] = {
      {.lr = 0.05},
      {.lr = 0.05, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01},
      {.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true},
  };
  for (const auto& o : variants) {
    const std::string label = cat("SGD momentum ", o.momentum, " dampening ", o.dampening, " nesterov ", o.nesterov);
    generator rng_cpu(111), rng_cuda(111);
    Linear<T, cpu> host_layer(31, 19);
    Linear<T, cuda> device_layer(31, 19);
    parameter_store<T, cpu> host_store;
    parameter_store<T, cuda> device_store;
    host_store.attach(host_layer, rng_cpu);
    device_store.attach(device_layer, rng_cuda);
    SGD<T, cpu> host_opt(o);
    SGD<T, cuda> device_opt(o);
    generator grads(112);
    for (int step = 0; step < 5; ++step) {
      const auto g = random_tensor<T>(host_store.grad_tensor().shape(), grads);
      std::copy_n(g.data(), g.numel(), host_store.grads());
      copy_into(device_store.grad_tensor(), g);
      host_opt.step(host_store);
      device_opt.step(device_store);
    }
    require_close(device_store.value_tensor(), host_store.value_tensor(), label + " parameters", atol, rtol);
    device_opt.visit_state([&](const std::string& name, tensor<T, cuda>& device_state) {
      host_opt.visit_state([&](const std::string& host_name, tensor<T>& host_state) {
        if (host_name == name) require_close(device_state, host_state, label + " " + name, atol, rtol);
      });
    });
  }
}
