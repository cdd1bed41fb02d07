// CUDA backend basics: caching allocator reuse, fill/copy/transfers, and checked calls that name file:line.
#include "vae/backend/cuda.hpp"
#include "vae/core/concepts.hpp"

#include <vector>

#include "cuda_test_support.cuh"

using namespace vae;

static_assert(Backend<cuda>);

TEST_CASE("size buckets round up to 512 B below 1 MiB and 2 MiB above") {
  using A = cuda_detail::caching_allocator;
  CHECK(A::bucket(1) == 512);
  CHECK(A::bucket(512) == 512);
  CHECK(A::bucket(513) == 1024);
  CHECK(A::bucket((1 << 20) - 1) == (1 << 20));
  CHECK(A::bucket((1 << 20) + 1) == (2 << 20));
  CHECK(A::bucket((5 << 20) + 7) == (6 << 20));
}

TEST_CASE("a freed block is reused for the next request of its bucket without cudaMalloc") {
  float* a = cuda::allocate<float>(1000);
  REQUIRE(a != nullptr);
  const auto before = cuda::allocator_stats();
  cuda::deallocate(a);
  float* b = cuda::allocate<float>(900);  // same 4 KiB bucket
  const auto after = cuda::allocator_stats();
  CHECK(b == a);
  CHECK(after.device_allocations == before.device_allocations);
  CHECK(after.cache_hits == before.cache_hits + 1);
  cuda::deallocate(b);
  CHECK(cuda::allocate<float>(0) == nullptr);
}

TEST_CASE("a repeated training-step shape pattern calls cudaMalloc only in its first iteration") {
  const auto start = cuda::allocator_stats().device_allocations;
  std::size_t after_first = 0;
  for (int step = 0; step < 5; ++step) {
    tensor<float, cuda> x({64, 784}), h({64, 512}), z({64, 20});
    x.zero();
    h.fill(1.f);
    z.fill(2.f);
    if (step == 0) after_first = cuda::allocator_stats().device_allocations;
  }
  CHECK(cuda::allocator_stats().device_allocations == after_first);
  CHECK(after_first - start <= 3);
}

TEST_CASE("fill, device copy and host round trips keep every value") {
  generator rng(51);
  const auto h = cuda_test::random_tensor<float>({7, 300}, rng);
  const auto d = to<cuda>(h);
  const tensor<float, cuda> copied = d;  // device → device copy
  cuda_test::require_close(copied, h, "to<cuda> + copy + to<cpu>", 0.0, 0.0);

  tensor<double, cuda> filled({1001}, 3.25);
  const auto back = to<cpu>(filled);
  for (std::int64_t i = 0; i < back.numel(); ++i) REQUIRE(back[i] == 3.25);

  tensor<float, cuda> batch;
  copy_into(batch, h);  // a batch upload into a reused device tensor
  const auto hits = cuda::allocator_stats().device_allocations;
  copy_into(batch, h);
  CHECK(cuda::allocator_stats().device_allocations == hits);
  cuda_test::require_close(batch, h, "copy_into", 0.0, 0.0);
}

TEST_CASE("a failed CUDA or cuBLAS call becomes vae::error with the call, the reason and file:line") {
  CHECK_THROWS_WITH_AS(cuda_detail::check_call(cudaErrorInvalidValue, "cudaMemcpy"),
                       doctest::Contains("cudaMemcpy failed: cudaErrorInvalidValue"), vae::error);
  CHECK_THROWS_WITH_AS(cuda_detail::check_call(cudaErrorInvalidValue, "cudaMemcpy"),
                       doctest::Contains("allocator.cu:"), vae::error);
  CHECK_THROWS_WITH_AS(cuda_detail::check_call(CUBLAS_STATUS_INVALID_VALUE, "cublasSgemm"),
                       doctest::Contains("cublasSgemm failed"), vae::error);
  // A real failing call (an invalid device ordinal; not a sticky error, so the context stays usable).
  CHECK_THROWS_WITH_AS(cuda_detail::check_call(cudaSetDevice(1 << 20), "cudaSetDevice"),
                       doctest::Contains("cudaErrorInvalidDevice"), vae::error);
  cuda::synchronize();  // the stream is still usable after the reported error
}

TEST_CASE("release_cached_memory returns free blocks to the driver") {
  float* p = cuda::allocate<float>(1 << 20);
  cuda::deallocate(p);
  CHECK(cuda::allocator_stats().bytes_cached > 0);
  cuda::release_cached_memory();
  CHECK(cuda::allocator_stats().bytes_cached == 0);
}
