// The normalisation, pooling and upsampling layers with backend cuda against the same layers with backend cpu:
// forward, dx and parameter gradients (and BatchNorm2d's running statistics, also with a communicator of 2
// replicas), one template argument changed.
#include "vae/layers/avg_pool2d.hpp"
#include "vae/layers/batch_norm2d.hpp"
#include "vae/layers/group_norm.hpp"
#include "vae/layers/layer_norm.hpp"
#include "vae/layers/upsample.hpp"
#include "vae/testing/replica_communicator.hpp"

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

namespace {

// float32, as the op tests (tests/cuda/<op>.cu): atol 1e-5 / rtol 1e-4 covers FMA contraction and the order of
// double sums; indexing errors are of order 1.
constexpr double layer_atol = 1e-5, layer_rtol = 1e-4;

struct tolerance {
  double atol, rtol;
};
constexpr tolerance float_sums{layer_atol, layer_rtol};
constexpr tolerance exact{0.0, 0.0};  // copies, and sums in the cpu kernel's order

template <template <class, class> class L, class... Args>
void check_layer(const std::string& name, const shape& xs, tolerance tol, Args... args) {
  generator rng_cpu(131), rng_cuda(131);
  L<float, cpu> host(args...);
  L<float, cuda> device(args...);
  parameter_store<float, cpu> host_store;
  parameter_store<float, cuda> device_store;
  host_store.attach(host, rng_cpu, "m.");
  device_store.attach(device, rng_cuda, "m.");
  generator data(132);
  const auto x = random_tensor<float>(xs, data, 2.0);
  const auto gx = to<cuda>(x);
  const auto& y = host.forward(x);
  require_close(device.forward(gx), y, name + " forward", tol.atol, tol.rtol);
  const auto dy = random_tensor<float>(y.shape(), data);
  const auto gdy = to<cuda>(dy);
  require_close(device.backward(gdy), host.backward(dy), name + " dx", tol.atol, tol.rtol);
  if (host_store.size() > 0) {
    require_close(device_store.grad_tensor(), host_store.grad_tensor(), name + " parameter gradients", tol.atol, tol.rtol);
    require_close(device_store.value_tensor(), host_store.value_tensor(), name + " values (incl. buffers)", tol.atol, tol.rtol);
  }
}

}  // namespace

TEST_CASE("GroupNorm, LayerNorm, Upsample, AvgPool2d layers: cuda matches cpu") {
  check_layer<GroupNorm>("GroupNorm", {2, 8, 5, 6}, float_sums, std::int64_t{4}, std::int64_t{8});
  check_layer<LayerNorm>("LayerNorm", {3, 7, 40}, float_sums, std::int64_t{40});
  check_layer<Upsample>("Upsample", {2, 3, 4, 5}, exact, std::int64_t{2});
  check_layer<AvgPool2d>("AvgPool2d", {2, 3, 8, 9}, float_sums, std::int64_t{3}, std::int64_t{2}, std::int64_t{1});
}

TEST_CASE("BatchNorm2d<float, cuda>: training then eval match the cpu layer, running statistics included") {
  // replicas 2: SyncBatchNorm's path (per-channel sums staged through the host for the communicator).
  for (const int replicas : {1, 2}) {
    generator rng_cpu(133), rng_cuda(133);
    BatchNorm2d<float, cpu> host(5);
    BatchNorm2d<float, cuda> device(5);
    testing::replica_communicator host_comm(replicas), device_comm(replicas);
    host.set_communicator(&host_comm);
    device.set_communicator(&device_comm);
    parameter_store<float, cpu> host_store;
    parameter_store<float, cuda> device_store;
    host_store.attach(host, rng_cpu, "bn.");
    device_store.attach(device, rng_cuda, "bn.");
    generator data(134);
    for (const bool training : {true, true, false}) {
      host.set_training(training);
      device.set_training(training);
      const auto x = random_tensor<float>({4, 5, 3, 6}, data, 2.0), dy = random_tensor<float>({4, 5, 3, 6}, data);
      const std::string mode = cat(training ? "BatchNorm2d training" : "BatchNorm2d eval", ", replicas ", replicas);
      // The layer keeps a pointer to its input for backward: the device input must outlive the backward call.
      const auto gx = to<cuda>(x), gdy = to<cuda>(dy);
      require_close(device.forward(gx), host.forward(x), mode + " forward", layer_atol, layer_rtol);
      require_close(device.backward(gdy), host.backward(dy), mode + " dx", layer_atol, layer_rtol);
    }
    CHECK(device_comm.allreduce_calls() == host_comm.allreduce_calls());
    require_close(device_store.grad_tensor(), host_store.grad_tensor(), "BatchNorm2d parameter gradients", layer_atol,
                  layer_rtol);
    // Values include running_mean, running_var and num_batches_tracked.
    require_close(device_store.value_tensor(), host_store.value_tensor(), "BatchNorm2d values and buffers", layer_atol,
                  layer_rtol);
  }
}
