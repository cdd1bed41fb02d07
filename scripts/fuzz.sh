#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang-14, ASan + UBSan) and runs each from its seed corpus.
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]   SECONDS per target (default 10); TARGETs default to all of fuzz/*.cpp
#   VAE_FUZZ_RUNS=N bash scripts/fuzz.sh 0 npy   run a target for N executions instead of a time (0 = no time limit)
# Build folder: build-fuzz/ (override: VAE_FUZZ_BUILD_DIR). New inputs found go to build-fuzz/corpus/<target>/,
# never into the committed seeds; a crashing input is written to build-fuzz/crash-<target>-*. Exits non-zero when
# a target fails to build or finds a crash, a leak or a sanitizer report.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-10}
shift || true
build_dir=${VAE_FUZZ_BUILD_DIR:-build-fuzz}
cxx=${VAE_FUZZ_CXX:-clang++-14}
command -v "$cxx" >/dev/null || { echo "fuzz.sh: $cxx not found (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 2; }
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/*.cpp; do targets+=("$(basename "$f" .cpp)"); done
fi
launcher=()
command -v ccache >/dev/null && launcher=(ccache)
mkdir -p "$build_dir"

# One translation unit per target, no OpenMP (one thread: a report then names one input) and no -march=native
# (the fuzzer's findings must not depend on the CPU). -O1 -g1 keeps file:line in the sanitizers' traces.
flags=(-std=c++20 -O1 -g1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -Wno-unknown-pragmas -Iinclude -Itools -I/usr/include/eigen3 -DVAE_DISABLE_AVX512)
libs=(-lz)
# JPEG through libjpeg-turbo, as the CMake build does when it finds it (a system library: not instrumented, so the
# sanitizers watch vae's side of the calls).
if [ -f /usr/include/turbojpeg.h ]; then flags+=(-DVAE_WITH_TURBOJPEG); libs+=(-lturbojpeg); fi
status=0
for t in "${targets[@]}"; do
  [ -f "fuzz/$t.cpp" ] || { echo "fuzz.sh: no fuzz/$t.cpp" >&2; exit 2; }
done
# Builds as many at once as there are cores (each is one translation unit), the two longest (tokens: a whole vq-vae
# under ASan; image: stb_image) first.
build_one() {
  local t="$1" t0=$SECONDS
  if "${launcher[@]}" "$cxx" "${flags[@]}" "fuzz/$t.cpp" -o "$build_dir/$t" "${libs[@]}" >"$build_dir/$t.build.log" 2>&1; then
    echo "== built $t ($((SECONDS - t0)) s)"
  else
    cat "$build_dir/$t.build.log"; echo "FAILED: build of $t"; return 1
  fi
}
ordered=()
for t in tokens image; do [[ " ${targets[*]} " == *" $t "* ]] && ordered+=("$t"); done
for t in "${targets[@]}"; do [[ " ${ordered[*]} " == *" $t "* ]] || ordered+=("$t"); done
# A pool: the next build starts as soon as any one finishes (the short ones all build beside tokens).
running=0
for t in "${ordered[@]}"; do
  if [ "$running" -ge "$(nproc)" ]; then
    wait -n || status=1
    running=$((running - 1))
  fi
  build_one "$t" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || status=1
  running=$((running - 1))
done
[ "$status" -eq 0 ] || exit "$status"

# Each target: its committed seeds (read only) plus what earlier runs found; a 4 KiB input cap keeps every
# execution short (each format's header and a few elements fit). The token decoder runs a convolutional decoder per
# input, so it gets 1 KiB.
for t in "${targets[@]}"; do
  mkdir -p "$build_dir/corpus/$t"
  max_len=4096
  [ "$t" = tokens ] && max_len=1024
  args=(-max_len="$max_len" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build_dir/crash-$t-")
  if [ -n "${VAE_FUZZ_RUNS:-}" ]; then args+=(-runs="$VAE_FUZZ_RUNS"); fi
  if [ -n "${VAE_FUZZ_SEED:-}" ]; then args+=(-seed="$VAE_FUZZ_SEED"); fi
  if [ "$seconds" -gt 0 ]; then args+=(-max_total_time="$seconds"); fi
  echo "== fuzz $t (${seconds}s${VAE_FUZZ_RUNS:+, $VAE_FUZZ_RUNS runs})"
  log="$build_dir/$t.log"
  if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
      "$build_dir/$t" "${args[@]}" "$build_dir/corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1; then
    echo "$t: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') executions, no crash"
  else
    tail -40 "$log"
    echo "FAILED: $t found a crash, leak or sanitizer report (log $log)"; status=1
  fi
done
exit "$status"
