// vae_allreduce_bench: the time of one allreduce (mpi_communicator, the trainer's path) over float buffers of given
// sizes, for the scaling model of docs/distributed.md. Run under mpirun: mpirun -np 2 vae_allreduce_bench N1 N2 ...
// Prints one JSON line per size: elements, bytes, median and minimum seconds of `reps` allreduces (after 3 warm-ups).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "vae/dist/mpi_communicator.hpp"

int main(int argc, char** argv) {
  vae::dist::mpi_communicator comm(120.0);
  const int reps = std::getenv("REPS") ? std::atoi(std::getenv("REPS")) : 30;
  for (int a = 1; a < argc; ++a) {
    const auto n = static_cast<std::size_t>(std::stoll(argv[a]));
    std::vector<float> buf(n, 1.0f);
    std::vector<double> t;
    for (int r = 0; r < reps + 3; ++r) {
      comm.barrier();
      const auto t0 = std::chrono::steady_clock::now();
      vae::dist::allreduce_mean(comm, std::span<float>(buf), std::size_t{1} << 22);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (r >= 3) t.push_back(s);
    }
    std::sort(t.begin(), t.end());
    if (comm.rank() == 0)
      std::printf("{\"ranks\": %d, \"elements\": %zu, \"bytes\": %zu, \"median_s\": %.6g, \"min_s\": %.6g}\n",
                  comm.size(), n, n * sizeof(float), t[t.size() / 2], t.front());
  }
  return 0;
}
