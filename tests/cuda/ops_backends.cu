// The ops × backends driver, cuda half: every registered op case whose op the cuda backend claims, run on cuda
// against the cpu on the same inputs (float and double: outputs, inputs updated in place, input gradients; exact
// cases with equality) and checked by finite differences on the device in double. Its own program: without a
// device it names every case that did not run and exits 77 (ctest: skipped). The cpu half and the count check are
// tests/ops_backends/ops_backends.cpp.
#define DOCTEST_CONFIG_IMPLEMENT
#include <cuda_runtime.h>
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "../ops_backends/registry.hpp"
#include "vae/backend/cuda.hpp"
#include "vae/testing/op_checks.hpp"

using namespace vae;

namespace cuda_ops_backends_test {

std::uint64_t case_seed(std::size_t config_index) { return 9001 + 104729 * config_index; }

// "name (config)" of every case the cuda backend claims.
std::string cuda_case_list(std::int64_t& count) {
  std::string list;
  op_cases::op_registry::for_each([&]<class C>() {
    if constexpr (C::on_cuda) {
      for (const auto& c : C::configs()) {
        list += cat("\n  ", C::name, " (", C::describe(c), ")");
        ++count;
      }
    }
  });
  return list;
}

template <class T>
void run_parity(std::int64_t& cases, std::int64_t& values) {
  op_cases::op_registry::for_each([&]<class C>() {
    if constexpr (C::on_cuda) {
      const auto configs = C::configs();
      for (std::size_t i = 0; i < configs.size(); ++i) {
        const auto r = testing::check_op_parity<C, cuda, cpu, T>(configs[i], case_seed(i));
        INFO(std::string(C::name) << " (" << C::describe(configs[i]) << "): " << r.checked << " values" << r.message);
        CHECK(r.ok);
        ++cases;
        values += r.checked;
      }
    }
  });
}

}  // namespace cuda_ops_backends_test

TEST_CASE("ops x backends: cuda matches the cpu on every claimed op case (float)") {
  std::int64_t cases = 0, values = 0;
  cuda_ops_backends_test::run_parity<float>(cases, values);
  MESSAGE("cuda vs cpu (float): " << cases << " cases, " << values << " values compared");
  CHECK(cases > 0);
}

TEST_CASE("ops x backends: cuda matches the cpu on every claimed op case (double)") {
  std::int64_t cases = 0, values = 0;
  cuda_ops_backends_test::run_parity<double>(cases, values);
  MESSAGE("cuda vs cpu (double): " << cases << " cases, " << values << " values compared");
  CHECK(cases > 0);
}

TEST_CASE("ops x backends: every differentiable claimed op case matches finite differences on cuda (double)") {
  std::int64_t cases = 0, derivatives = 0;
  op_cases::op_registry::for_each([&]<class C>() {
    if constexpr (C::on_cuda && testing::DifferentiableOpCase<C>) {
      const auto configs = C::configs();
      for (std::size_t i = 0; i < configs.size(); ++i) {
        const auto r = testing::check_op_gradient<C, cuda>(configs[i], cuda_ops_backends_test::case_seed(i));
        INFO(std::string(C::name) << " (" << C::describe(configs[i]) << "): " << r.summary());
        CHECK(r.ok);
        ++cases;
        derivatives += r.checked;
      }
    }
  });
  MESSAGE("finite differences on cuda: " << cases << " cases, " << derivatives << " derivatives");
  CHECK(derivatives > 0);
}

int main(int argc, char** argv) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    const char* why = status != cudaSuccess ? cudaGetErrorString(status) : "cudaGetDeviceCount found 0 devices";
    std::int64_t cases = 0;
    const std::string list = cuda_ops_backends_test::cuda_case_list(cases);
    if (const char* required = std::getenv("VAE_REQUIRE_CUDA"); required && *required && *required != '0') {
      std::printf("FAILED: VAE_REQUIRE_CUDA is set but there is no CUDA device (%s)\n", why);
      return 1;
    }
    std::printf("SKIPPED: no CUDA device (%s); these %lld op cases did not run on cuda:%s\n", why,
                static_cast<long long>(cases), list.c_str());
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
