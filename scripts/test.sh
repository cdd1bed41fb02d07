#!/usr/bin/env bash
# Builds vae and runs every test: the Release suite (label slow included), then an ASan+UBSan build and a few
# seconds of each fuzz target (scripts/fuzz.sh; VAE_FUZZ_SECONDS per target, default 2).
#   bash scripts/test.sh            full run
#   bash scripts/test.sh --quick    Release suite only (no sanitizer build, no fuzzing)
#   bash scripts/test.sh --cuda     only the CUDA suite (label "cuda"; each test skips, saying why, without a GPU)
# Build folders: build/ (Release, -march=native) and build-asan/ (override: VAE_BUILD_DIR, VAE_ASAN_BUILD_DIR).
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib/deps.sh

quick=0 cuda=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    --cuda) cuda=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option '$arg' (use --quick, --cuda)" >&2; exit 2 ;;
  esac
done

jobs=$(nproc)
build_dir=${VAE_BUILD_DIR:-build}
asan_dir=${VAE_ASAN_BUILD_DIR:-build-asan}
start=$(date +%s)
total_passed=0 total_failed=0 problems=()

# Runs ctest with the given arguments, adds its counts to the totals, never stops the script.
run_ctest() {
  local name="$1"; shift
  local log rc=0
  log=$(mktemp)
  ctest --output-on-failure --timeout 1500 "$@" 2>&1 | tee "$log" || rc=$?
  local line passed=0 failed=0 total
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1 || true)
  if [ -n "$line" ]; then
    failed=$(sed -E 's/.* ([0-9]+) tests? failed out of.*/\1/' <<<"$line")
    total=$(sed -E 's/.*failed out of ([0-9]+).*/\1/' <<<"$line")
    passed=$((total - failed))
  fi
  rm -f "$log"
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  echo "== $name: $passed passed, $failed failed"
  if [ "$rc" -ne 0 ] || [ "$failed" -ne 0 ]; then problems+=("$name: $failed failed (ctest exit $rc)"); fi
}

# Prints how long the phase that just ended took, so that a slow suite shows where its time went.
phase_start=$(date +%s)
phase_done() {
  local now
  now=$(date +%s)
  echo "== time: $1 took $((now - phase_start)) s"
  phase_start=$now
}

# Configures and builds; a compile error is recorded (its tests then show as "Not Run") and the run goes on.
build() {
  local dir="$1"; shift
  cmake -S . -B "$dir" "$@"
  local keep_going=(-k)  # make: keep going past a failed target; ninja needs a count
  grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja' "$dir/CMakeCache.txt" && keep_going=(-k 0)
  if ! cmake --build "$dir" -j"$jobs" -- "${keep_going[@]}"; then
    problems+=("build of $dir failed")
  fi
}

vae_install_deps
# ctest runs two test programs at once on two cores, each with OpenMP threads: with OpenMP's default (spinning) wait
# their idle threads burn the time slices the other program needs at every barrier. Passive waiting yields instead.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
# nvcc lives in /usr/local/cuda/bin on these machines; CMake enables the CUDA backend when it finds it.
if [ -x /usr/local/cuda/bin/nvcc ] && ! command -v nvcc >/dev/null; then export PATH=/usr/local/cuda/bin:$PATH; fi

echo "== Release build ($build_dir/)"
# The test programs, the examples (run with --tiny) and the benchmarks (only compiled here) at -O1
# (VAE_TEST_OPTIMIZATION): -O3 doubled their compile time; the tool the end-to-end tests drive stays at -O3. The
# host side of every .cu file (nvcc's -O is the host compiler's; device code keeps ptxas's default) at -O1 where a GPU
# is visible and its tests run, at -O0 where none is and they are only compiled: gcc's host pass is most of nvcc's
# time (tests/cuda/ops_backends.cu: 76 s at -O3, 57 s at -O1, 42 s at -O0).
cuda_host_opt=-O1
command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 || cuda_host_opt=-O0
build "$build_dir" -DCMAKE_BUILD_TYPE=Release -DVAE_NATIVE=ON -DVAE_TEST_OPTIMIZATION=1 \
  -DCMAKE_CUDA_FLAGS_RELEASE="$cuda_host_opt -DNDEBUG"
phase_done "Release build"
if [ "$cuda" -eq 1 ]; then
  run_ctest "cuda" --test-dir "$build_dir" -L cuda
  for p in "${problems[@]}"; do echo "FAILED: $p"; done
  [ ${#problems[@]} -eq 0 ]
  exit
fi
# Every test, including label "slow" (end-to-end) and "cuda" (compiled with nvcc; without a GPU each one exits
# 77 and ctest lists it as skipped, with the reason in its output).
run_ctest "release" --test-dir "$build_dir" -j"$jobs"
phase_done "Release tests"

echo "== API reference (scripts/docs.sh: doxygen over include/vae, any warning fails)"
bash scripts/docs.sh || problems+=("scripts/docs.sh (doxygen warnings or failure)")
phase_done "API reference"

if [ "$quick" -eq 0 ]; then
  echo "== ASan+UBSan build ($asan_dir/)"
  # -O0 -g1: the sanitizer build was the longest part of the suite (556 s of ~1060 on 2 cores at -O1 -g); one
  # test unity file compiled in 105 s at -O1 -g, 70 s at -O1 -g1, 35 s at -O0 -g1, while its tests run ~3x slower
  # (seconds). -g1 keeps file:line in the sanitizers' stack traces. Eigen's asserts stay on (no NDEBUG). g++ 12
  # reports Eigen's AVX-512 intrinsics (_mm512_undefined_ps) as "used uninitialized" with optimisation on:
  # -Wno-uninitialized here only; the Release build keeps the warning.
  # Tools and benchmarks are not built here: the suite does not need them.
  build "$asan_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O0 -g1 -Wno-uninitialized" \
    -DVAE_SANITIZE=ON -DVAE_NATIVE=ON -DVAE_BUILD_TOOLS=OFF -DVAE_BUILD_BENCHMARKS=OFF -DVAE_WITH_CUDA=OFF
  phase_done "ASan+UBSan build"
  # The end-to-end tests (label "slow") drive the tool, which this build leaves out (so they are not built here); the
  # compile-failure tests (failtest) and the CMake package test (consumer) run no vae code a sanitizer could watch.
  # All of them run in the Release pass above.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_ctest "sanitizers" --test-dir "$asan_dir" -j"$jobs" -LE 'slow|cuda|failtest|consumer'
  phase_done "ASan+UBSan tests"

  # Every parser of outside bytes under libFuzzer (ASan + UBSan) from its seed corpus for a fixed number of inputs
  # with a fixed seed, so that the suite is repeatable (a timed run with a random seed explores differently each time
  # and could fail on a finding by chance); long, randomly seeded runs are `bash scripts/fuzz.sh 600` by hand. A
  # crash, leak or sanitizer report fails the suite.
  echo "== fuzz smoke (scripts/fuzz.sh, ${VAE_FUZZ_RUNS:-20000} inputs per target, seed 1)"
  VAE_FUZZ_SEED=1 VAE_FUZZ_RUNS="${VAE_FUZZ_RUNS:-20000}" bash scripts/fuzz.sh 0 safetensors npy idx idx_gz image image_jpeg config tokens captions ||
    problems+=("fuzz smoke: scripts/fuzz.sh found a problem or did not build")
  phase_done "fuzz smoke"
fi

echo
for p in "${problems[@]}"; do echo "FAILED: $p"; done
echo "time: $(( $(date +%s) - start ))s"
echo "$total_passed passed, $total_failed failed"
[ ${#problems[@]} -eq 0 ]
