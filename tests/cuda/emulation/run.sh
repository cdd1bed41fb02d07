#!/usr/bin/env bash
# Runs the cuda kernels' logic on the host, without a GPU or nvcc: gen.py rewrites the committed kernel headers
# into host C++, emulate.cc runs each block's threads as std::threads (__syncthreads = std::barrier, __shared__ =
# static, blocks one after another, cuBLAS = cpu_detail::gemm) and compares every result with the cpu kernel in
# double. It checks indexing, reductions and the host-side orchestration; it says nothing about the real device
# (memory model, warp scheduling, float rounding, cuBLAS, launch limits). Usage: tests/cuda/emulation/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$here/gen.py" "$root/include/vae/backend/cuda" "$work/kernels_emu.hpp"
g++ -std=c++20 -O1 -fopenmp -pthread -I"$root/include" -I"$work" -isystem /usr/include/eigen3 "$here/emulate.cc" \
  -o "$work/emulate"
"$work/emulate"
