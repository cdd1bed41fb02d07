// ResBlock, Residual, ResStack and the conv encoder/decoder with residual blocks on cuda against cpu (forward,
// backward: dx and every parameter gradient), and device gradient checks in double of the ops these layers and the
// vector quantizer added (ops/add.hpp, ops/vq_terms.hpp): ResBlock through its skip addition,
// VectorQuantizer<double, cuda>'s straight-through backward with the assignment frozen (dz_e and the codebook).
// Written for a GPU machine: skipped (exit 77) without a device.
#include "vae/backend/cuda/kernels.cuh"
#include "vae/decoders/conv_decoder.hpp"
#include "vae/encoders/conv_encoder.hpp"
#include "vae/layers/conv2d.hpp"
#include "vae/layers/res_block.hpp"
#include "vae/layers/res_stack.hpp"
#include "vae/layers/residual.hpp"
#include "vae/quantizers/vector_quantizer.hpp"

#include <cmath>
#include <functional>
#include <string>
#include <type_traits>

#include "cuda_test_support.cuh"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

namespace res_block_cuda_test {

using cuda_test::random_tensor;
using cuda_test::require_close;

// float: the convolutions' sums differ in order between cuBLAS and the cpu GEMM (outputs of ~1, sums of ≤ 9·C
// products): atol 1e-5 + rtol 1e-4 on values, gradients summed over the batch too: atol 1e-4 + rtol 1e-3.
// double: 1e-12 / 1e-11.
template <class T>
struct res_tolerance {
  static constexpr bool single = std::is_same_v<T, float>;
  static constexpr double y_atol = single ? 1e-5 : 1e-12, y_rtol = single ? 1e-4 : 1e-11;
  static constexpr double g_atol = single ? 1e-4 : 1e-11, g_rtol = single ? 1e-3 : 1e-10;
};

// Runs the same layer on both backends from the same initial values: forward, then backward of the same dy.
template <class T, class HostLayer, class DeviceLayer>
void compare_layer(HostLayer& host, DeviceLayer& device, shape in, const std::string& label) {
  using tol = res_tolerance<T>;
  generator init_host(17), init_device(17);
  parameter_store<T, cpu> host_store;
  parameter_store<T, cuda> device_store;
  host_store.attach(host, init_host);
  device_store.attach(device, init_device);
  REQUIRE(host_store.size() == device_store.size());
  REQUIRE(host_store.size() > 0);
  generator rng(23);
  const auto x = random_tensor<T>(in, rng);
  const auto x_device = to<cuda>(x);  // alive until the backward calls: the layers keep a pointer to their input
  const auto& y_host = host.forward(x);
  const auto& y_device = device.forward(x_device);
  require_close(y_device, y_host, label + " forward", tol::y_atol, tol::y_rtol);
  const auto dy = random_tensor<T>(y_host.shape(), rng);
  host_store.zero_grad();
  device_store.zero_grad();
  const auto& dx_host = host.backward(dy);
  const auto dy_device = to<cuda>(dy);  // named: GCC cannot tell that dx_device does not refer to a temporary
  const auto& dx_device = device.backward(dy_device);
  require_close(dx_device, dx_host, label + " dx", tol::g_atol, tol::g_rtol);
  require_close(device_store.grad_tensor(), host_store.grad_tensor(), label + " parameter gradients", tol::g_atol,
                tol::g_rtol);
  // backward ADDS into the parameter gradients: a second backward doubles them.
  device.backward(to<cuda>(dy));
  host.backward(dy);
  require_close(device_store.grad_tensor(), host_store.grad_tensor(), label + " accumulated gradients",
                2 * tol::g_atol, tol::g_rtol);
}

using host_d = tensor<double>;

// Σ y ⊙ r with y on the device.
double dot_device(const tensor<double, cuda>& y, const host_d& r) {
  const auto h = to<cpu>(y);
  REQUIRE(h.numel() == r.numel());
  double s = 0;
  for (std::int64_t i = 0; i < h.numel(); ++i) s += h[i] * r[i];
  return s;
}

// `expected`: how many derivatives the test's calls compared (every value of each tensor, all under 96 here).
void finish_check(const std::string& op, const testing::gradcheck_report& report, std::int64_t expected) {
  MESSAGE(op << " on cuda, double: " << report.summary());
  CHECK_MESSAGE(report.ok, op << ": " << report.summary());
  CHECK(report.checked == expected);
}

// An all-zero analytic gradient would agree with a forward that ignores its input.
void require_nonzero(const host_d& g, const std::string& what) {
  double largest = 0;
  for (std::int64_t i = 0; i < g.numel(); ++i) largest = std::max(largest, std::abs(g[i]));
  CHECK_MESSAGE(largest > 0, what << ": the device backward gave an all-zero gradient");
}

}  // namespace res_block_cuda_test

TEST_CASE_TEMPLATE("ResBlock on cuda matches cpu (ReLU; GroupNorm + SiLU)", T, float, double) {
  {
    ResBlock<T, cpu> host(res_block_options{6, 4});
    ResBlock<T, cuda> device(res_block_options{6, 4});
    res_block_cuda_test::compare_layer<T>(host, device, shape{3, 6, 5, 4}, "ResBlock relu");
  }
  {
    const res_block_options o{8, 6, 2, conv_activation::silu};
    ResBlock<T, cpu> host(o);
    ResBlock<T, cuda> device(o);
    res_block_cuda_test::compare_layer<T>(host, device, shape{2, 8, 3, 3}, "ResBlock groupnorm silu");
  }
}

TEST_CASE("Residual<Conv2d> and ResStack on cuda match cpu") {
  using T = float;
  {
    Residual<Conv2d<T, cpu>> host(Conv2d<T, cpu>(4, 4, 3, 1, 1));
    Residual<Conv2d<T, cuda>> device(Conv2d<T, cuda>(4, 4, 3, 1, 1));
    res_block_cuda_test::compare_layer<T>(host, device, shape{2, 4, 6, 5}, "Residual<Conv2d>");
  }
  {
    ResStack<T, cpu> host(8, res_stack_options{2, 3});
    ResStack<T, cuda> device(8, res_stack_options{2, 3});
    CHECK(device.blocks() == 2);
    res_block_cuda_test::compare_layer<T>(host, device, shape{2, 8, 4, 4}, "ResStack k=2");
  }
}

TEST_CASE("ConvEncoder and ConvDecoder with residual blocks (res_stack_options{k > 0}) on cuda match cpu") {
  using T = float;
  {
    ConvEncoder<T, cpu> host(1, 8, 4, 6, 5, res_stack_options{2, 0});
    ConvEncoder<T, cuda> device(1, 8, 4, 6, 5, res_stack_options{2, 0});
    CHECK(device.res().blocks() == 2);
    res_block_cuda_test::compare_layer<T>(host, device, shape{3, 1, 8, 8}, "ConvEncoder k=2");
  }
  {
    ConvDecoder<T, cpu> host(3, 8, 6, 4, 1, res_stack_options{1, 2});
    ConvDecoder<T, cuda> device(3, 8, 6, 4, 1, res_stack_options{1, 2});
    CHECK(device.res().blocks() == 1);
    res_block_cuda_test::compare_layer<T>(host, device, shape{3, 3}, "ConvDecoder k=1");
  }
}

TEST_CASE("gradcheck on cuda: ResBlock with SiLU (x and every parameter, through ops::add)") {
  generator rng(41);
  ResBlock<double, cuda> block(res_block_options{3, 2, 0, conv_activation::silu});  // smooth: no kinks to cross
  parameter_store<double, cuda> store;
  store.attach(block, rng);
  auto x = cuda_test::random_tensor<double>({2, 3, 3, 3}, rng);
  const auto r = cuda_test::random_tensor<double>(x.shape(), rng);
  auto values = to<cpu>(store.value_tensor());
  tensor<double, cuda> x_device;  // the layers keep a pointer to their input until backward
  auto loss = [&] {
    copy_into(store.value_tensor(), values);
    copy_into(x_device, x);
    return res_block_cuda_test::dot_device(block.forward(x_device), r);
  };
  loss();
  store.zero_grad();
  const auto dx = to<cpu>(block.backward(to<cuda>(r)));
  const auto dparams = to<cpu>(store.grad_tensor());
  res_block_cuda_test::require_nonzero(dx, "ResBlock dx");
  res_block_cuda_test::require_nonzero(dparams, "ResBlock dparams");
  testing::gradcheck_report report;
  testing::check_gradient(loss, x.data(), dx.data(), x.numel(), "x", {}, report);
  testing::check_gradient(loss, values.data(), dparams.data(), values.numel(), "parameters", {}, report);
  res_block_cuda_test::finish_check("ResBlock", report, x.numel() + values.numel());
}

TEST_CASE("gradcheck on cuda: VectorQuantizer straight-through with frozen assignment (z_e and codebook)") {
  const std::int64_t K = 7, D = 3;
  VectorQuantizer<double, cuda> q(K, D, {.beta = 0.25});
  parameter_store<double, cuda> store;
  generator rng(43);
  store.attach(q, rng);
  auto values = cuda_test::random_tensor<double>(to<cpu>(store.value_tensor()).shape(), rng);
  copy_into(store.value_tensor(), values);
  auto z = cuda_test::random_tensor<double>({2, D, 2, 3}, rng);
  const auto r = cuda_test::random_tensor<double>(z.shape(), rng);
  q.forward(to<cuda>(z));
  store.zero_grad();
  const auto dz = to<cpu>(q.backward(to<cuda>(r)));
  const auto dcodes = to<cpu>(store.grad_tensor());
  res_block_cuda_test::require_nonzero(dz, "VectorQuantizer dz_e");
  res_block_cuda_test::require_nonzero(dcodes, "VectorQuantizer dcodebook");
  q.set_frozen_assignment(true);
  // As tests/quantizers/vector_quantizer.cpp: z_e sees Σ r·z_q + CommitmentLoss (the codebook term stops gradient to
  // it), the codebook sees Σ r·z_q + CodebookLoss; backward(r) gives both at once.
  auto out_dot_r = [&] {
    copy_into(store.value_tensor(), values);
    return res_block_cuda_test::dot_device(q.forward(to<cuda>(z)), r);
  };
  auto encoder_side = [&] { return out_dot_r() + q.term_value<CommitmentLoss>(); };
  auto codebook_side = [&] { return out_dot_r() + q.term_value<CodebookLoss>(); };
  testing::gradcheck_report report;
  testing::check_gradient(encoder_side, z.data(), dz.data(), z.numel(), "z_e", {}, report);
  testing::check_gradient(codebook_side, values.data(), dcodes.data(), values.numel(), "codebook", {}, report);
  q.set_frozen_assignment(false);
  res_block_cuda_test::finish_check("VectorQuantizer (frozen)", report, z.numel() + values.numel());
}
