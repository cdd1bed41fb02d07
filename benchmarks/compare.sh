#!/usr/bin/env bash
# compare.sh: vae_bench beside the PyTorch reference scripts (../shared/reference/), alternately A B A B, one table.
#
#   benchmarks/compare.sh [--quick] [--openblas] [--models "mlp-vae conv-vae vq-vae"] [--reps N]
#
# Builds vae_bench in Release in its own folder (build-bench, or build-bench-openblas with --openblas, which routes
# Eigen's products to OpenBLAS), installs python3-torch and the data set when missing (scripts/lib/deps.sh), then for
# each model runs vae_bench and the PyTorch reference N times each, interleaved (vae, torch, vae, torch, ...), both with
# the same thread count (THREADS, default 2) and prints medians. PyTorch runs with OMP_WAIT_POLICY=passive as the
# reference README says (its fast setting on this machine). vae_bench runs with the environment it is given.
# --quick: shorter windows (noisier). The machine may be shared: the table prints `uptime` before and after.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REF="${VAE_REFERENCE_DIR:-$ROOT/../shared/reference}"
THREADS="${THREADS:-2}"
QUICK=0
OPENBLAS=0
MODELS="mlp-vae conv-vae vq-vae"
REPS=2
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --openblas) OPENBLAS=1 ;;
    --models) MODELS="$2"; shift ;;
    --reps) REPS="$2"; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

# shellcheck source=../scripts/lib/deps.sh
source "$ROOT/scripts/lib/deps.sh"
VAE_DEBIAN_PACKAGES+=(python3-torch)
vae_install_deps >&2

BUILD="$ROOT/build-bench"
CMAKE_EXTRA=()
if [ "$OPENBLAS" = 1 ]; then
  BUILD="$ROOT/build-bench-openblas"
  CMAKE_EXTRA=(-DVAE_USE_OPENBLAS=ON)
fi
echo "compare.sh: building vae_bench (Release) in $BUILD" >&2
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DVAE_BUILD_TESTS=OFF -DVAE_BUILD_TOOLS=OFF \
      -DVAE_BUILD_BENCHMARKS=ON -DVAE_WITH_CUDA=OFF "${CMAKE_EXTRA[@]}" >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target vae_bench >/dev/null
BENCH="$BUILD/benchmarks/vae_bench"

if [ "$QUICK" = 1 ]; then VAE_SECONDS=6; TORCH_SECONDS=12; else VAE_SECONDS=20; TORCH_SECONDS=30; fi

ref_script() {
  case "$1" in
    mlp-vae) echo "vae_mlp.py --epochs 50 --iwae-k 10 --iwae-n 100" ;;
    conv-vae) echo "vae_conv.py --epochs 50" ;;
    vq-vae) echo "vqvae.py --epochs 50" ;;
  esac
}
peak_gflops() { awk -v t="$THREADS" 'BEGIN { printf "%.0f", 117 * t }'; }  # Zen 4: 2x 256-bit FMA/cycle at ~3.65 GHz

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "cpu: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1), $(nproc) cpus, threads $THREADS"
  echo "uptime before: $(uptime)"
} >"$TMP/head"

for model in $MODELS; do
  for ((r = 1; r <= REPS; ++r)); do
    echo "compare.sh: $model run $r/$REPS: vae_bench" >&2
    OMP_NUM_THREADS="$THREADS" "$BENCH" --model "$model" --seconds "$VAE_SECONDS" --threads "$THREADS" \
      | tail -1 >>"$TMP/$model.vae"
    echo "compare.sh: $model run $r/$REPS: PyTorch $(ref_script "$model" | cut -d' ' -f1)" >&2
    # shellcheck disable=SC2046
    (cd "$REF" && OMP_WAIT_POLICY=passive BENCH_THREADS="$THREADS" /usr/bin/python3 $(ref_script "$model") \
       --max-seconds "$TORCH_SECONDS") | grep '"event": "result"' | tail -1 >>"$TMP/$model.torch"
  done
done
echo "uptime after: $(uptime)" >>"$TMP/head"

cat "$TMP/head"
/usr/bin/python3 - "$TMP" "$(peak_gflops)" "$OPENBLAS" $MODELS <<'EOF'
import json, statistics, sys
tmp, peak, openblas, models = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1", sys.argv[4:]
def load(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]
rows = []
print(f"vae GEMM: {'OpenBLAS (EIGEN_USE_BLAS)' if openblas else 'Eigen'}; medians over runs; fp32 peak {peak:.0f} GFLOP/s")
hdr = ("model", "vae train/s", "torch train/s", "ratio", "vae eval/s", "torch eval/s", "ratio", "vae GFLOP/s", "% peak")
print("| " + " | ".join(hdr) + " |")
print("|" + "---|" * len(hdr))
for m in models:
    v, t = load(f"{tmp}/{m}.vae"), load(f"{tmp}/{m}.torch")
    med = lambda rs, k: statistics.median(r[k] for r in rs) if rs else float("nan")
    vt, tt = med(v, "train_samples_per_s"), med(t, "train_samples_per_s")
    ve, te = med(v, "eval_samples_per_s"), med(t, "eval_samples_per_s")
    g = med(v, "step_gflops")
    print(f"| {m} | {vt:,.0f} | {tt:,.0f} | {vt / tt:.2f}x | {ve:,.0f} | {te:,.0f} | {ve / te:.2f}x | {g:.1f} | {100 * g / peak:.0f}% |")
    runs = ", ".join(f"{r['train_samples_per_s']:.0f}" for r in v), ", ".join(f"{r['train_samples_per_s']:.0f}" for r in t)
    print(f"|   runs (train/s) | vae: {runs[0]} | torch: {runs[1]} | | | | | | |")
EOF
