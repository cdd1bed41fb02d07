// Test for dist/nccl_communicator.hpp under mpiexec: allreduce, broadcast and allgather of device buffers, one GPU
// per rank (world size 1 on a one-GPU machine still runs NCCL's code path). Exit 77 (skipped) without a GPU.
#include "vae/dist/nccl_communicator.hpp"

#include <cstdio>
#include <vector>

int main() {
  vae::dist::mpi_communicator mpi(120.0);
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    if (mpi.rank() == 0) std::printf("skipped: no CUDA device (the NCCL communicator needs one GPU per rank)\n");
    return 77;
  }
  if (devices < mpi.size()) {
    if (mpi.rank() == 0) std::printf("skipped: %d ranks but %d GPUs\n", mpi.size(), devices);
    return 77;
  }
  try {
    vae::dist::detail::cuda_check(cudaSetDevice(mpi.rank()), "cudaSetDevice");
    vae::dist::nccl_communicator nccl(mpi);
    const int W = nccl.size(), r = nccl.rank();
    const std::size_t n = 1 << 20;
    std::vector<float> host(n), back(n);
    for (std::size_t i = 0; i < n; ++i) host[i] = static_cast<float>((i % 97) * (r + 1));
    float* dev = nullptr;
    vae::dist::detail::cuda_check(cudaMalloc(&dev, n * sizeof(float)), "cudaMalloc");
    vae::dist::detail::cuda_check(cudaMemcpy(dev, host.data(), n * sizeof(float), cudaMemcpyHostToDevice), "upload");
    nccl.allreduce_sum(dev, n);
    vae::dist::detail::cuda_check(cudaMemcpy(back.data(), dev, n * sizeof(float), cudaMemcpyDeviceToHost), "download");
    const float factor = static_cast<float>(W * (W + 1) / 2);
    int bad = 0;
    for (std::size_t i = 0; i < n; ++i) bad += back[i] != static_cast<float>(i % 97) * factor;
    std::vector<float> root(n, static_cast<float>(r) + 0.5f);
    vae::dist::detail::cuda_check(cudaMemcpy(dev, root.data(), n * sizeof(float), cudaMemcpyHostToDevice), "upload");
    nccl.broadcast(dev, n, 0);
    vae::dist::detail::cuda_check(cudaMemcpy(back.data(), dev, n * sizeof(float), cudaMemcpyDeviceToHost), "download");
    for (std::size_t i = 0; i < n; ++i) bad += back[i] != 0.5f;
    nccl.barrier();
    cudaFree(dev);
    std::printf("rank %d of %d: nccl allreduce + broadcast of %zu floats: %d wrong values\n", r, W, n, bad);
    return bad == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::printf("rank %d: %s\n", mpi.rank(), e.what());
    return 1;
  }
}
