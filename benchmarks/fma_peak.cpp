// fma_peak: the float32 multiply-add rate this machine's cores reach, the denominator of compare.sh's "% of peak".
//
//   ./fma_peak [threads] [seconds]   prints {"threads": T, "gflops": G, "per_thread_gflops": [...]}
//
// Each thread runs independent chains of vector FMAs as wide as the compiler targets (64 bytes with AVX-512, else 32:
// AVX2 has no 64-byte registers), enough chains to cover the FMA latency on every x86 core we know, so the rate is
// the FMA units' throughput at whatever clock the cores hold under full load:
// a measured peak rather than one computed from a nominal frequency, which a virtual machine does not report.
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

// The chains, the multiplier and the addend must fit the vector registers: 32 with AVX-512, 16 without.
#if defined(__AVX512F__)
constexpr int lanes = 16;
#define VAE_FMA_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#else
constexpr int lanes = 8;
#define VAE_FMA_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#endif
#define VAE_FMA_ONE(i) +1
constexpr int chains = 0 VAE_FMA_CHAINS(VAE_FMA_ONE);  // counted from the list, so the two cannot disagree
#undef VAE_FMA_ONE
using vec = float __attribute__((vector_size(lanes * 4)));

// Runs `iters` rounds of `chains` FMAs on `lanes` floats each, the chains in named registers (an array would live on
// the stack); returns a value that depends on every chain so the compiler keeps the loop.
__attribute__((noinline)) float fma_rounds(long iters, float seed) {
  const vec mul = vec{} + 0.999999f;
  const vec add = vec{} + 1e-7f;
#define VAE_FMA_INIT(c) vec a##c = vec{} + seed * static_cast<float>(c + 1);
#define VAE_FMA_STEP(c) a##c = a##c * mul + add;
#define VAE_FMA_KEEP(c) asm volatile("" : "+v"(a##c));  // the compiler may not fold rounds it can see through
#define VAE_FMA_SUM(c) sum += a##c;
  VAE_FMA_CHAINS(VAE_FMA_INIT)
  for (long i = 0; i < iters; ++i) {
    VAE_FMA_CHAINS(VAE_FMA_STEP)
    VAE_FMA_CHAINS(VAE_FMA_KEEP)
  }
  vec sum{};
  VAE_FMA_CHAINS(VAE_FMA_SUM)
#undef VAE_FMA_SUM
#undef VAE_FMA_KEEP
#undef VAE_FMA_STEP
#undef VAE_FMA_INIT
#undef VAE_FMA_CHAINS
  float s = 0;
  for (int k = 0; k < lanes; ++k) s += sum[k];
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : omp_get_max_threads();
  const double seconds = argc > 2 ? std::atof(argv[2]) : 1.0;
  if (threads < 1 || !(seconds > 0)) {
    std::fprintf(stderr, "usage: fma_peak [threads >= 1] [seconds > 0]\n");
    return 2;
  }
  std::vector<double> rate(static_cast<std::size_t>(threads), 0.0);
  float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
  {
    const int t = omp_get_thread_num();
    const long iters = 1L << 22;
    sink += fma_rounds(iters / 16, 1.0f);  // warm-up: clocks settle under vector load
    double flops = 0;
    const auto start = std::chrono::steady_clock::now();
    double elapsed = 0;
    while (elapsed < seconds) {
      sink += fma_rounds(iters, static_cast<float>(t + 1));
      flops += 2.0 * lanes * chains * static_cast<double>(iters);
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    rate[static_cast<std::size_t>(t)] = flops / elapsed / 1e9;
  }
  double total = 0;
  std::printf("{\"threads\": %d, \"per_thread_gflops\": [", threads);
  for (int t = 0; t < threads; ++t) {
    total += rate[static_cast<std::size_t>(t)];
    std::printf("%s%.1f", t ? ", " : "", rate[static_cast<std::size_t>(t)]);
  }
  std::printf("], \"gflops\": %.1f, \"checksum\": %g}\n", total, static_cast<double>(sink));
  return 0;
}
