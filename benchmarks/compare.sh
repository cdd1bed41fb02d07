#!/usr/bin/env bash
# compare.sh: vae_bench beside the PyTorch reference scripts (../shared/reference/), alternately A B A B, one table.
#
#   benchmarks/compare.sh [--quick] [--eigen | --both | --kernel-ab] [--models "mlp-vae conv-vae vq-vae vqgan"] [--reps N]
#   benchmarks/compare.sh --models "gpt-prior kv-sample" [--reps N]
#
# Builds vae_bench in Release in its own folder (build-bench-openblas: products through OpenBLAS, the library's
# default when libopenblas-dev is installed; --eigen: build-bench with -DVAE_USE_OPENBLAS=OFF, Eigen's own products;
# --both builds and runs the two; --kernel-ab runs the default build beside one with -DVAE_AVX512=OFF, i.e. our
# AVX-512 GEMM against OpenBLAS for every float product, in build-bench-noavx512), installs python3-torch and the data set when missing (scripts/lib/deps.sh), then for
# each model runs vae_bench and the PyTorch reference N times each, interleaved (vae, torch, vae, torch, ...), both with
# the same thread count (THREADS, default 2) and prints medians. PyTorch runs with OMP_WAIT_POLICY=passive as the
# reference README says (its fast setting on this machine), and with OPENBLAS_CORETYPE set where Debian's OpenBLAS
# does not recognise the cpu (it then falls back to its SSE3 "Prescott" kernels, which halve PyTorch's MLP speed on
# an AVX-512 Xeon): SKYLAKEX with AVX-512, HASWELL with AVX2; TORCH_OPENBLAS_CORETYPE=NAME chooses, =detected keeps
# OpenBLAS's own choice. vae_bench runs with the environment it is given.
# --quick: shorter windows (noisier). The machine may be shared: the table prints `uptime` before and after.
# gpt-prior and kv-sample are transformer_prior.py's two halves (its --skip-sample / --skip-train), in a table of their
# own: training image tokens/s at batch 128; sampling 1024 tokens with the KV cache at batch 1 and 16, each side's KV
# cache against its own recomputing of the prefix (estimated the same way by both), and vae's peak resident memory of
# sampling at batch 16. Both sides run these with OMP_WAIT_POLICY=passive (VAE_GPT_WAIT_POLICY=... sets vae's): a
# sampled token is a few small products, and spinning OpenMP threads on the shared 2 cores made vae's KV-cache sampling
# 9x slower at batch 1 (128 against 1,192 tokens/s, 2 threads, load average 1-3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REF="${VAE_REFERENCE_DIR:-$ROOT/../shared/reference}"
THREADS="${THREADS:-2}"
QUICK=0
OPENBLAS=1  # 0: Eigen, 1: OpenBLAS (the default build), 2: both, 3: default and without our AVX-512 GEMM
MODELS="mlp-vae conv-vae vq-vae"
REPS=2
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --openblas) OPENBLAS=1 ;;
    --eigen) OPENBLAS=0 ;;
    --both) OPENBLAS=2 ;;
    --kernel-ab) OPENBLAS=3 ;;
    --models) MODELS="$2"; shift ;;
    --reps) REPS="$2"; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

# shellcheck source=../scripts/lib/deps.sh
source "$ROOT/scripts/lib/deps.sh"
VAE_DEBIAN_PACKAGES+=(python3-torch)
vae_install_deps >&2

case "$OPENBLAS" in
  0) VARIANTS="eigen" ;;
  1) VARIANTS="openblas" ;;
  2) VARIANTS="eigen openblas" ;;
  *) VARIANTS="noavx512 openblas" ;;
esac
bench_path() {
  case "$1" in
    openblas) echo "$ROOT/build-bench-openblas/benchmarks/vae_bench" ;;
    noavx512) echo "$ROOT/build-bench-noavx512/benchmarks/vae_bench" ;;
    *) echo "$ROOT/build-bench/benchmarks/vae_bench" ;;
  esac
}
for v in $VARIANTS; do
  BUILD="$(dirname "$(dirname "$(bench_path "$v")")")"
  CMAKE_EXTRA=(-DVAE_USE_OPENBLAS=OFF)
  [ "$v" = openblas ] && CMAKE_EXTRA=(-DVAE_USE_OPENBLAS=ON)
  [ "$v" = noavx512 ] && CMAKE_EXTRA=(-DVAE_USE_OPENBLAS=ON -DVAE_AVX512=OFF)
  echo "compare.sh: building vae_bench ($v, Release) in $BUILD" >&2
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DVAE_BUILD_TESTS=OFF -DVAE_BUILD_TOOLS=OFF \
        -DVAE_BUILD_BENCHMARKS=ON -DVAE_WITH_CUDA=OFF "${CMAKE_EXTRA[@]}" >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target vae_bench fma_peak >/dev/null
done

if [ "$QUICK" = 1 ]; then VAE_SECONDS=6; TORCH_SECONDS=20; else VAE_SECONDS=20; TORCH_SECONDS=30; fi

ref_script() {
  case "$1" in
    mlp-vae) echo "vae_mlp.py --epochs 50 --iwae-k 10 --iwae-n 100" ;;
    conv-vae) echo "vae_conv.py --epochs 50" ;;
    vq-vae) echo "vqvae.py --epochs 50" ;;
    # one epoch is more than the time cap; its per-epoch test evaluation (excluded from the timing) on 1000 images
    vqgan) echo "vqgan.py --epochs 1 --test-n 1000" ;;
  esac
}
# vae_bench's flags that make a model's run the reference's: vqgan.py trains at batch 64 and times 1024 test images.
bench_args() {
  case "$1" in
    vqgan) echo "--batch 64 --eval-n 1024" ;;
  esac
}
# The fp32 peak is measured (fma_peak: vector FMAs on every thread at the clock the cores hold under load), not
# computed from a nominal frequency that a virtual machine does not report; the best of three 1-second runs.
peak_gflops() {
  local fma best=0 g
  fma="$(dirname "$(bench_path "${VARIANTS##* }")")/fma_peak"
  for _ in 1 2 3; do
    g="$("$fma" "$THREADS" 1 | sed -n 's/.*"gflops": \([0-9.]*\).*/\1/p')"
    best="$(awk -v a="$best" -v b="$g" 'BEGIN { print (b > a) ? b : a }')"
  done
  printf '%.0f' "$best"
}
PEAK="$(peak_gflops)"

# The OpenBLAS kernels PyTorch's products run on (see the head of this file).
openblas_core() {
  OPENBLAS_VERBOSE=2 "$@" /usr/bin/python3 -c 'import torch; torch.ones(64, 64) @ torch.ones(64, 64)' 2>&1 |
    sed -n 's/^Core: //p' | head -1
}
TORCH_ENV=(OMP_WAIT_POLICY=passive BENCH_THREADS="$THREADS")
case "${TORCH_OPENBLAS_CORETYPE:-auto}" in
  auto)
    if [ "$(openblas_core env)" = Prescott ]; then
      if grep -qw avx512f /proc/cpuinfo; then TORCH_ENV+=(OPENBLAS_CORETYPE=SKYLAKEX)
      elif grep -qw avx2 /proc/cpuinfo; then TORCH_ENV+=(OPENBLAS_CORETYPE=HASWELL)
      fi
    fi ;;
  detected) ;;
  *) TORCH_ENV+=(OPENBLAS_CORETYPE="$TORCH_OPENBLAS_CORETYPE") ;;
esac
TORCH_CORE="$(openblas_core env "${TORCH_ENV[@]}")"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "cpu: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1), $(nproc) cpus, threads $THREADS"
  echo "fp32 peak (fma_peak, $THREADS threads): $PEAK GFLOP/s; PyTorch's OpenBLAS core: ${TORCH_CORE:-unknown} (${TORCH_ENV[*]})"
  echo "uptime before: $(uptime)"
} >"$TMP/head"

# transformer_prior.py's halves, vae_bench's runs of each (a result line per batch size) and the result lines kept.
gpt_ref_args() { if [ "$1" = gpt-prior ]; then echo "--skip-sample"; else echo "--skip-train"; fi; }
gpt_bench_batches() { if [ "$1" = gpt-prior ]; then echo "128"; else echo "1 16"; fi; }
gpt_bench_args() { if [ "$1" = gpt-prior ]; then echo "--reps 6"; else echo "--reps 3"; fi; }
VAE_MODELS=""
GPT_MODELS=""
for model in $MODELS; do
  case "$model" in
    gpt-prior|kv-sample) GPT_MODELS="$GPT_MODELS $model" ;;
    *) VAE_MODELS="$VAE_MODELS $model" ;;
  esac
done

for model in $GPT_MODELS; do
  for ((r = 1; r <= REPS; ++r)); do
    for v in $VARIANTS; do
      for b in $(gpt_bench_batches "$model"); do
        echo "compare.sh: $model run $r/$REPS: vae_bench ($v) batch $b" >&2
        # shellcheck disable=SC2046
        OMP_WAIT_POLICY="${VAE_GPT_WAIT_POLICY:-passive}" OMP_NUM_THREADS="$THREADS" "$(bench_path "$v")" \
          --model "$model" --batch "$b" --threads "$THREADS" $(gpt_bench_args "$model") | tail -1 >>"$TMP/$model.$v"
      done
    done
    echo "compare.sh: $model run $r/$REPS: PyTorch transformer_prior.py $(gpt_ref_args "$model")" >&2
    # shellcheck disable=SC2046
    (cd "$REF" && env "${TORCH_ENV[@]}" /usr/bin/python3 transformer_prior.py \
       $(gpt_ref_args "$model")) | grep '"event": "result"' >>"$TMP/$model.torch"
  done
done

for model in $VAE_MODELS; do
  for ((r = 1; r <= REPS; ++r)); do
    for v in $VARIANTS; do
      echo "compare.sh: $model run $r/$REPS: vae_bench ($v)" >&2
      # shellcheck disable=SC2046
      OMP_NUM_THREADS="$THREADS" "$(bench_path "$v")" --model "$model" --seconds "$VAE_SECONDS" --threads "$THREADS" \
        $(bench_args "$model") | tail -1 >>"$TMP/$model.$v"
    done
    echo "compare.sh: $model run $r/$REPS: PyTorch $(ref_script "$model" | cut -d' ' -f1)" >&2
    # shellcheck disable=SC2046
    (cd "$REF" && env "${TORCH_ENV[@]}" /usr/bin/python3 $(ref_script "$model") \
       --max-seconds "$TORCH_SECONDS") | grep '"event": "result"' | tail -1 >>"$TMP/$model.torch"
  done
done
echo "uptime after: $(uptime)" >>"$TMP/head"

cat "$TMP/head"
if [ -n "$GPT_MODELS" ]; then
# shellcheck disable=SC2086
/usr/bin/python3 - "$TMP" "$VARIANTS" $GPT_MODELS <<'EOF'
import json, statistics, sys
tmp, variants, models = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
def load(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]
def at(rows, batch):
    return [r for r in rows if r.get("batch") == batch]
med = lambda xs: statistics.median(xs) if xs else float("nan")
print("GPT prior at transformer_prior.py's sizes (4 layers, d 256, 4 heads): medians over runs")
print("| measure | vae | torch | vae/torch | runs (vae; torch) |")
print("|---|---|---|---|---|")
def row(name, v, t):
    ratio = med(v) / med(t) if v and t else float("nan")
    runs = ", ".join(f"{x:,.2f}" for x in v) + "; " + ", ".join(f"{x:,.2f}" for x in t)
    print(f"| {name} | {med(v):,.1f} | {med(t):,.1f} | {ratio:.2f}x | {runs} |")
for var in variants:
    tag = "" if len(variants) == 1 else f" ({var})"
    if "gpt-prior" in models:
        v, t = load(f"{tmp}/gpt-prior.{var}"), load(f"{tmp}/gpt-prior.torch")
        row(f"training image tokens/s, batch 128{tag}", [r["image_tokens_per_s"] for r in v],
            [r["image_tokens_per_s"] for r in t])
    if "kv-sample" in models:
        v, t = load(f"{tmp}/kv-sample.{var}"), load(f"{tmp}/kv-sample.torch")
        for b in (1, 16):
            row(f"KV-cache sampling tokens/s, batch {b}{tag}", [r["kv_cache_tokens_per_s"] for r in at(v, b)],
                [r["kv_cache_tokens_per_s"] for r in at(t, b)])
        for b in (1, 16):
            row(f"KV cache / recomputing the prefix (times faster), batch {b}{tag}",
                [r["speedup_cache"] for r in at(v, b)], [r["speedup_cache"] for r in at(t, b)])
        for b in (1, 16):
            row(f"direct uncached run / its estimate, batch {b}{tag}",
                [r["nocache_direct_vs_est"] for r in at(v, b)], [r["nocache_direct_vs_est"] for r in at(t, b)])
        peak = [r["peak_rss_mib_after_cached"] for r in at(v, 16)]
        cache = [r["kv_cache_mib"] for r in at(v, 16)]
        print(f"| peak resident MiB of sampling 1024 tokens, batch 16{tag} | {med(peak):,.1f} (KV cache {med(cache):,.1f}) "
              f"| not measured | | {', '.join(f'{x:,.1f}' for x in peak)} |")
EOF
fi
[ -n "$VAE_MODELS" ] || exit 0
# shellcheck disable=SC2086
/usr/bin/python3 - "$TMP" "$PEAK" "$VARIANTS" $VAE_MODELS <<'EOF'
import json, statistics, sys
tmp, peak, variants, models = sys.argv[1], float(sys.argv[2]), sys.argv[3].split(), sys.argv[4:]
def load(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]
rows, pairs = [], []
print(f"vae GEMM: openblas = the default build (float products through vae's AVX-512 kernel where the cpu has it, "
      f"the rest through OpenBLAS), noavx512 = the same with -DVAE_AVX512=OFF, eigen = Eigen's own kernels; medians over runs; "
      f"fp32 peak {peak:.0f} GFLOP/s")
hdr = ("model", "vae train/s", "torch train/s", "ratio", "vae eval/s", "torch eval/s", "ratio", "vae GFLOP/s", "% peak")
print("| " + " | ".join(hdr) + " |")
print("|" + "---|" * len(hdr))
for m in models:
    t = load(f"{tmp}/{m}.torch")
    med = lambda rs, k: statistics.median(r[k] for r in rs) if rs else float("nan")
    tt, te = med(t, "train_samples_per_s"), med(t, "eval_samples_per_s")
    for var in variants:
        v = load(f"{tmp}/{m}.{var}")
        vt, ve, g = med(v, "train_samples_per_s"), med(v, "eval_samples_per_s"), med(v, "step_gflops")
        name = m if len(variants) == 1 else f"{m} ({var})"
        print(f"| {name} | {vt:,.0f} | {tt:,.0f} | {vt / tt:.2f}x | {ve:,.0f} | {te:,.0f} | {ve / te:.2f}x | {g:.1f} | {100 * g / peak:.0f}% |")
    runs = "; ".join(f"{var} " + ", ".join(f"{r['train_samples_per_s']:.0f}" for r in load(f"{tmp}/{m}.{var}")) for var in variants)
    print(f"|   runs (train/s) | {runs} | torch " + ", ".join(f"{r['train_samples_per_s']:.0f}" for r in t) + " | | | | | | |")
    # Run i of vae against run i of PyTorch (a minute apart): on a shared host whose load drifts over minutes, the
    # median of these per-pair ratios follows the libraries more closely than the ratio of the two medians.
    for var in variants:
        v = load(f"{tmp}/{m}.{var}")
        for key, what in (("train_samples_per_s", "train"), ("eval_samples_per_s", "eval")):
            pr = [a[key] / b[key] for a, b in zip(v, t)]
            if pr:
                pairs.append(f"{m}{'' if len(variants) == 1 else f' ({var})'} {what}: " + ", ".join(f"{x:.2f}" for x in pr)
                             + f" -> median {statistics.median(pr):.2f}x")
print("paired ratios, run i of vae / run i of PyTorch:")
for line in pairs:
    print("  " + line)
EOF
