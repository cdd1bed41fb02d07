// CUDA kernel<adam_op, cuda> (the device path of train/adam.hpp's Adam/AdamW) against Adam/AdamW<T, cpu> over
// 5 steps, with and without AMSGrad: parameters and every state buffer.
#include "vae/backend/cuda/adam_step.cuh"
#include "vae/layers/linear.hpp"

#include <algorithm>

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

namespace {

// Same formula in T on both sides; the host's Eigen sqrt may be rsqrt + a Newton step (≤ 1–2 ulp) and the
// device contracts into FMAs: float atol 1e-6 / rtol 1e-5 after 5 steps, double
// 1e-13. The second moments are ~1e-3 here, so they are compared with atol 1e-12 (float) / 1e-20 (double).
template <class T, template <class, class> class Opt, class Options>
void check_adam(const Options& o, const std::string& label) {
  const double atol = std::is_same_v<T, float> ? 1e-6 : 1e-13, rtol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
  generator rng_cpu(121), rng_cuda(121);
  Linear<T, cpu> host_layer(29, 23);
  Linear<T, cuda> device_layer(29, 23);
  parameter_store<T, cpu> host_store;
  parameter_store<T, cuda> device_store;
  host_store.attach(host_layer, rng_cpu);
  device_store.attach(device_layer, rng_cuda);
  Opt<T, cpu> host_opt(o);
  Opt<T, cuda> device_opt(o);
  generator grads(122);
  for (int step = 0; step < 5; ++step) {
    const auto g = random_tensor<T>(host_store.grad_tensor().shape(), grads, 0.1);
    std::copy_n(g.data(), g.numel(), host_store.grads());
    copy_into(device_store.grad_tensor(), g);
    host_opt.step(host_store);
    device_opt.step(device_store);
  }
  require_close(device_store.value_tensor(), host_store.value_tensor(), label + " parameters", atol, rtol);
  int compared = 0;
  device_opt.visit_state([&](const std::string& name, tensor<T, cuda>& device_state) {
    host_opt.visit_state([&](const std::string& host_name, tensor<T>& host_state) {
      if (host_name != name) return;
      const bool second = name.find("sq") != std::string::npos;
      require_close(device_state, host_state, label + " " + name,
                    second ? (std::is_same_v<T, float> ? 1e-12 : 1e-20) : atol, rtol);
      ++compared;
    });
  });
  CHECK(compared >= 2);
}

}  // namespace

TEST_CASE_TEMPLATE("Adam/AdamW<T, cuda> steps match the cpu optimizers", T, float, double) {
  check_adam<T, Adam>(adam_options{.lr = 1e-2, .weight_decay = 0.1}, "Adam");
  check_adam<T, Adam>(adam_options{.lr = 1e-2, .amsgrad = true}, "Adam AMSGrad");
  check_adam<T, AdamW>(adamw_options{.lr = 1e-2, .weight_decay = 0.1}, "AdamW");
  check_adam<T, AdamW>(adamw_options{.lr = 1e-2, .weight_decay = 0.1, .amsgrad = true}, "AdamW AMSGrad");
}
