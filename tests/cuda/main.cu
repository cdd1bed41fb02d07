// doctest runner for the CUDA tests: without a usable device it prints why and exits 77 (ctest: skipped).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    const char* why = status != cudaSuccess ? cudaGetErrorString(status) : "cudaGetDeviceCount found 0 devices";
    // On a machine that must run these tests, a missing device is a failure, not a skip.
    if (const char* required = std::getenv("VAE_REQUIRE_CUDA"); required && *required && *required != '0') {
      std::printf("FAILED: VAE_REQUIRE_CUDA is set but there is no CUDA device (%s)\n", why);
      return 1;
    }
    std::printf("SKIPPED: no CUDA device (%s)\n", why);
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
