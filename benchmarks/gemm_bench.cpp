// GEMM micro-benchmark: vae's cpu backend gemm (bands over the OpenMP pool: our AVX-512 kernel where built, else BLAS
// or Eigen) against OpenBLAS cblas_sgemm,
// float32, same shapes and thread count, alternating A B A B; reports the median GFLOP/s of each and the ratio.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <unistd.h>

#include "vae/backend/cpu/gemm.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"

namespace {

struct problem {
  std::int64_t M, K, N;
  bool trans_b;  // false: C = A·B (B is [K,N]); true: C = A·Bᵀ (B is [N,K], the Linear forward layout)
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

const char* env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  // Two thread pools alternate here (libgomp for vae, OpenBLAS's pthreads). libgomp's default ACTIVE wait keeps
  // its idle workers spinning after each region, which on a 2-core machine halves OpenBLAS's speed; OpenBLAS's
  // workers spin the same way after each call (halving ours: vae's 2-thread products measured at its 1-thread
  // speed). Unless the caller chose, re-run this program with OMP_WAIT_POLICY=passive and OPENBLAS_THREAD_TIMEOUT=4
  // (the shortest spin) so that each side sleeps while the other runs (both read them only at start-up).
  if (!std::getenv("OMP_WAIT_POLICY")) {
    setenv("OMP_WAIT_POLICY", "passive", 1);
    if (!std::getenv("OPENBLAS_THREAD_TIMEOUT")) setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1);
    setenv("VAE_BENCH_SET_WAIT_POLICY", "1", 1);
    execv("/proc/self/exe", argv);
  }
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 11;
  const std::string only = argc > 3 ? argv[3] : "";  // "vae" or "blas": time one side only (diagnostics)
#if defined(_OPENMP)
  omp_set_num_threads(threads);
#endif
  Eigen::setNbThreads(threads);
  openblas_set_num_threads(threads);

  std::printf("gemm_bench: float32, %d threads, median of %d timed samples per kernel (alternating vae, OpenBLAS)\n",
              threads, repeats);
  std::printf("vae gemm: %sEigen %d.%d.%d, Eigen threads %d%s\n",
              vae::cpu_detail::avx512::available ? "vae's AVX-512 kernel in bands over the OpenMP pool (float); " : "",
              EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION, Eigen::nbThreads(),
#if defined(EIGEN_USE_BLAS)
              ", EIGEN_USE_BLAS (products routed to BLAS)"
#else
              ""
#endif
  );
  std::printf("OpenBLAS: %s, core %s\n", openblas_get_config(), openblas_get_corename());
  std::printf("env: OPENBLAS_CORETYPE=%s OPENBLAS_L2_SIZE=%s OPENBLAS_NUM_THREADS=%s OPENBLAS_THREAD_TIMEOUT=%s "
              "OMP_NUM_THREADS=%s OMP_WAIT_POLICY=%s%s\n",
              env_or("OPENBLAS_CORETYPE", "(unset)"), env_or("OPENBLAS_L2_SIZE", "(unset)"),
              env_or("OPENBLAS_NUM_THREADS", "(unset)"), env_or("OPENBLAS_THREAD_TIMEOUT", "(unset)"),
              env_or("OMP_NUM_THREADS", "(unset)"), env_or("OMP_WAIT_POLICY", "(unset)"),
              std::getenv("VAE_BENCH_SET_WAIT_POLICY") ? " (set by gemm_bench, see source)" : "");

  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {  // other work on the machine skews every number
    char buf[128] = {};
    if (std::fgets(buf, sizeof buf, f)) std::printf("load average at start: %s", buf);
    std::fclose(f);
  }

  const std::vector<problem> problems = {
      {128, 784, 512, false}, {128, 512, 784, false}, {1024, 1024, 1024, false},
      {128, 784, 512, true},  {128, 512, 784, true},
  };

  std::printf("\n| MxKxN          | op     | vae GFLOP/s | OpenBLAS GFLOP/s | vae/OpenBLAS | max |Δ| |\n");
  std::printf("|----------------|--------|-------------|------------------|--------------|---------|\n");
  vae::generator rng(0);
  for (const auto& p : problems) {
    vae::tensor<float> A(vae::shape{p.M, p.K}), B(vae::shape{p.K, p.N}), C1(vae::shape{p.M, p.N}),
        C2(vae::shape{p.M, p.N});
    rng.fill_uniform(A.data(), A.numel(), -1.0, 1.0);
    rng.fill_uniform(B.data(), B.numel(), -1.0, 1.0);
    const std::int64_t ldb = p.trans_b ? p.K : p.N;  // B's buffer is [N,K] when transposed

    auto run_vae = [&] {
      vae::cpu_detail::gemm<float>(false, p.trans_b, p.M, p.N, p.K, 1.0f, A.data(), p.K, B.data(), ldb, 0.0f,
                                   C1.data(), p.N);
    };
    auto run_blas = [&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, p.trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(p.M),
                  static_cast<int>(p.N), static_cast<int>(p.K), 1.0f, A.data(), static_cast<int>(p.K), B.data(),
                  static_cast<int>(ldb), 0.0f, C2.data(), static_cast<int>(p.N));
    };

    const double flops = 2.0 * p.M * p.K * p.N;
    // Each timed sample repeats the call until ~0.1 GFLOP of work, so small shapes are not timer-bound.
    const int inner = std::max(1, static_cast<int>(std::ceil(1e8 * 5 / flops)));
    for (int w = 0; w < 3; ++w) {  // warm-up: page in, spin up both thread pools
      run_vae();
      run_blas();
    }
    std::vector<double> t_vae, t_blas;
    for (int r = 0; r < repeats; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < inner; ++i)
        if (only != "blas") run_vae();
      t_vae.push_back(seconds_since(t0) / inner);
      t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < inner; ++i)
        if (only != "vae") run_blas();
      t_blas.push_back(seconds_since(t0) / inner);
    }
    double max_diff = 0;
    for (std::int64_t i = 0; i < C1.numel(); ++i) max_diff = std::max(max_diff, double(std::abs(C1[i] - C2[i])));
    const double g_vae = flops / median(t_vae) * 1e-9, g_blas = flops / median(t_blas) * 1e-9;
    const std::string dims = std::to_string(p.M) + "x" + std::to_string(p.K) + "x" + std::to_string(p.N);
    std::printf("| %-14s | %-6s | %11.1f | %16.1f | %12.2f | %7.1e |\n", dims.c_str(), p.trans_b ? "A*B^T" : "A*B",
                g_vae, g_blas, g_vae / g_blas, max_diff);
    if (max_diff > 1e-3 * std::sqrt(static_cast<double>(p.K))) {
      std::printf("results differ beyond float32 rounding\n");
      return 1;
    }
  }
  return 0;
}
