// CUDA counter-based draws against the host generator: same stream positions, same numbers.
#include "vae/backend/cuda/rng.cuh"

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::require_close;

// The device evaluates Box-Muller's log/cos/sqrt in double with ≤ 1–2 ulp differences from glibc, so draws
// agree to ~1e-15 relative in double and almost always exactly after rounding to float; 1e-6 absolute for
// float (a float ulp at |x| = 4 is 4.8e-7) and 1e-13 for double.
TEST_CASE_TEMPLATE("cuda fill_normal and fill_uniform give the host generator's draws", T, float, double) {
  const double atol = std::is_same_v<T, float> ? 1e-6 : 1e-13;
  generator host(31), device(31);
  host.set_offset(1000);  // also checks that the stream offset carries over
  device.set_offset(1000);
  for (const std::int64_t n : {1, 255, 256, 257, 100003}) {
    tensor<T> h({n});
    tensor<T, cuda> d({n});
    host.fill_normal(h.data(), n, 0.5, 2.0);
    fill_normal(device, d, 0.5, 2.0);
    require_close(d, h, cat("fill_normal n=", n), atol, 0.0);
    host.fill_uniform(h.data(), n, -3.0, 1.0);
    fill_uniform(device, d, -3.0, 1.0);
    require_close(d, h, cat("fill_uniform n=", n), atol, 0.0);
    CHECK(host.offset() == device.offset());
  }
}

TEST_CASE("cuda reparameterize_gaussian = mu + exp(logvar/2)·eps with the host's eps") {
  generator data(32), host(33), device(33);
  const std::int64_t n = 4096;
  const auto mu = cuda_test::random_tensor<float>({n}, data), logvar = cuda_test::random_tensor<float>({n}, data);
  tensor<float> eps({n}), z({n});
  host.fill_normal(eps.data(), n);
  for (std::int64_t i = 0; i < n; ++i) z[i] = mu[i] + std::exp(0.5f * logvar[i]) * eps[i];
  const auto gmu = to<cuda>(mu), glogvar = to<cuda>(logvar);
  tensor<float, cuda> geps({n}), gz({n});
  reparameterize_gaussian(device, n, gmu.data(), glogvar.data(), geps.data(), gz.data());
  require_close(geps, eps, "eps", 1e-6, 0.0);
  // z = mu + s·eps with s = expf(...) (device ≤ 2 ulp from glibc) and an FMA on the device: a few float ulps
  // of the larger term, which reaches ~20 here (ulp 1.9e-6); where mu and s·eps cancel, z is small and
  // only an absolute bound works: 2e-5 absolute (≈ 10 ulps of 20) plus 1e-5 relative.
  require_close(gz, z, "z", 2e-5, 1e-5);
  CHECK(host.offset() == device.offset());
}
