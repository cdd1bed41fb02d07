#!/usr/bin/env bash
# The main job: trains the MLP VAE on Fashion-MNIST for 5 epochs and evaluates it, writing out/demo/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib/deps.sh
vae_install_deps

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DVAE_NATIVE=ON
# The CLI's CMake target: "vae_cli" (OUTPUT_NAME vae; "vae" itself is the library target), or "vae".
targets=$(cmake --build build --target help 2>/dev/null || true)
cli_target=""
for t in vae_cli vae; do
  if grep -Eq "^\.\.\. $t( |$)" <<<"$targets"; then cli_target=$t; break; fi
done
if [ -z "$cli_target" ]; then
  echo "demo.sh: the vae command-line tool is not part of this build yet (no CMake target 'vae_cli'/'vae';" >&2
  echo "         tools/CMakeLists.txt must define it). Nothing to run." >&2
  exit 1
fi
cmake --build build -j"$(nproc)" --target "$cli_target"
if [ ! -x build/tools/vae ]; then
  echo "demo.sh: target '$cli_target' built, but build/tools/vae does not exist" >&2
  exit 1
fi

./build/tools/vae train --model mlp-vae --epochs 5 --seed 0 --out out/demo
./build/tools/vae eval --run out/demo --iwae-k 100 --n 1000

echo
echo "pictures: $(ls out/demo/*.png 2>/dev/null | tr '\n' ' ')"
echo "metrics:  out/demo/metrics.jsonl"
