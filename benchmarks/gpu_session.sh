#!/usr/bin/env bash
# One short GPU session: the CUDA test programs, then vae_bench --device cuda beside PyTorch eager on the same GPU
# (A B A B per model). Written for a lent GPU machine where nothing can be installed: the programs are built
# elsewhere (nvcc, -arch sm_90) and passed in BIN_DIR; Fashion-MNIST comes from DATA_DIR.
#   bash benchmarks/gpu_session.sh BIN_DIR DATA_DIR OUT_DIR [--tests-only|--bench-only] [--models "mlp-vae vq-vae"]
#     [--batch 512] [--seconds 10] [--reps 2] [--sanitize]
# --sanitize: afterwards, each test program again under compute-sanitizer memcheck (60 s each at most);
#   without it, only the programs that failed are rerun so (to say where a failure reads or writes out of bounds).
# --profile MODEL: instead of all that, Nsight Compute times every kernel of 1000 launches of vae_bench's training
#   steps (after 3000 skipped) and prints the kernels by total time.
# BIN_DIR holds test_cuda_batch_* and test_cuda_ops_backends (doctest programs), vae_bench and optionally vae (the
# CLI: then scripts/cli_cuda_smoke.sh runs too).
set -uo pipefail
bin=$(realpath "$1") data=$(realpath "$2") out=$3; shift 3
mode=all sanitize=0 models="mlp-vae conv-vae vq-vae" batch=512 seconds=10 reps=2
while [ $# -gt 0 ]; do
  case "$1" in
    --tests-only) mode=tests ;;
    --bench-only) mode=bench ;;
    --sanitize) sanitize=1 ;;
    --profile) mode=profile; profile_model=$2; shift ;;
    --models) models=$2; shift ;;
    --batch) batch=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    --reps) reps=$2; shift ;;
    *) echo "gpu_session.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$out/gpu.txt"
# The programs link libcudart/libcublas of CUDA 13; find them wherever this image keeps them.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, q, "lib") for p in nvidia.__path__ for q in os.listdir(p)))' 2>/dev/null); do
  [ -d "$d" ] && export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"
done
[ -d "$bin/lib" ] && export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$bin/lib"
# vae_bench reads the Debian package's path.
mkdir -p /usr/share/datasets/fashion-mnist && cp -n "$data"/*.gz /usr/share/datasets/fashion-mnist/ 2>/dev/null
export FMNIST_DIR=$data

summary=() failed_tests=()
if [ "$mode" = profile ]; then
  command -v ncu >/dev/null || export PATH="$PATH:/usr/local/cuda/bin:$(ls -d /opt/nvidia/nsight-compute/*/ 2>/dev/null | tail -1)"
  ncu --clock-control none --metrics gpu__time_duration.sum --launch-skip 3000 --launch-count 1000 --csv \
    "$bin/vae_bench" --model "$profile_model" --device cuda --batch "$batch" --seconds 3 > "$out/ncu.csv" 2> "$out/ncu.err"
  echo "ncu rc=$?"; tail -3 "$out/ncu.err"
  python3 - "$out/ncu.csv" <<'EOF'
import csv, sys, collections
rows = [r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
head, body = rows[0], rows[1:]
name, metric, unit, value = (head.index(k) for k in ("Kernel Name", "Metric Name", "Metric Unit", "Metric Value"))
tot, cnt = collections.Counter(), collections.Counter()
for r in body:
    if r[metric] != "gpu__time_duration.sum": continue
    v = float(r[value].replace(",", "")) * {"nsecond": 1e-3, "usecond": 1, "msecond": 1e3}.get(r[unit], 1)
    tot[r[name][:90]] += v; cnt[r[name][:90]] += 1
allt = sum(tot.values())
print(f"{len(body)} launches, kernel time {allt/1e3:.2f} ms")
for k, v in tot.most_common(30):
    print(f"{v/1e3:8.3f} ms {100*v/allt:5.1f}% {cnt[k]:5d}x {v/cnt[k]:8.1f} us  {k}")
EOF
  exit 0
fi
if [ "$mode" != bench ]; then
  for t in "$bin"/test_cuda_*; do
    name=$(basename "$t")
    start=$(date +%s)
    timeout 300 "$t" --duration=false > "$out/$name.log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    line=$(grep -E '^\[doctest\] (test cases|assertions):' "$out/$name.log" | tr '\n' ' ')
    summary+=("$name rc=$rc ${secs}s $line")
    [ $rc -ne 0 ] && failed_tests+=("$t")  # 77 (skipped: no GPU) counts as a failure on a GPU machine
    [ $rc -ne 0 ] && grep -E 'ERROR|error|FAILED|CHECK|REQUIRE|SKIPPED|what\(\)' "$out/$name.log" | head -25
  done
fi

# The CLI on the device (scripts/cli_cuda_smoke.sh), when BIN_DIR has the vae tool.
if [ "$mode" != bench ] && [ -x "$bin/vae" ]; then
  timeout 240 bash "$here/../scripts/cli_cuda_smoke.sh" "$bin/vae" > "$out/cli_smoke.log" 2>&1
  rc=$?
  smoke_rc=$rc
  summary+=("cli_cuda_smoke rc=$rc $(tail -1 "$out/cli_smoke.log")")
  [ $rc -ne 0 ] && tail -30 "$out/cli_smoke.log"
fi

if [ "$mode" != tests ]; then
  : > "$out/bench.jsonl"
  for m in $models; do
    for r in $(seq "$reps"); do
      "$bin/vae_bench" --model "$m" --device cuda --batch "$batch" --seconds "$seconds" 2>"$out/vae_bench_$m.err" |
        tee -a "$out/bench.jsonl" || { echo "vae_bench $m failed:"; tail -5 "$out/vae_bench_$m.err"; }
      python3 "$here/torch_cuda_bench.py" --model "$m" --batch "$batch" --seconds "$seconds" --data "$data" |
        tee -a "$out/bench.jsonl"
    done
  done
fi
to_check=("${failed_tests[@]}")
[ "$sanitize" = 1 ] && to_check=("$bin"/test_cuda_*)
if [ ${#to_check[@]} -gt 0 ] && command -v compute-sanitizer >/dev/null; then
  for t in "${to_check[@]}"; do
    name=$(basename "$t")
    timeout 60 compute-sanitizer --tool memcheck --print-limit 20 "$t" > "$out/$name.memcheck.log" 2>&1
    summary+=("memcheck $name rc=$? $(grep -E 'ERROR SUMMARY' "$out/$name.memcheck.log" | tail -1)")
  done
fi
echo "== summary"
printf '%s\n' "${summary[@]}"
[ -f "$out/bench.jsonl" ] && python3 - "$out/bench.jsonl" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
by = {}
for r in rows:
    impl = "pytorch" if r.get("impl", "").startswith("pytorch") else "vae"
    by.setdefault(r["model"], {}).setdefault(impl, []).append(r)
print(f"{'model':10} {'vae train/s':>12} {'torch train/s':>14} {'ratio':>6} {'vae eval/s':>11} {'torch eval/s':>13} {'ratio':>6}")
for m, d in by.items():
    med = lambda k, key: statistics.median(x[key] for x in d[k]) if d.get(k) else float("nan")
    vt, pt, ve, pe = med("vae", "train_samples_per_s"), med("pytorch", "train_samples_per_s"), med("vae", "eval_samples_per_s"), med("pytorch", "eval_samples_per_s")
    print(f"{m:10} {vt:12.0f} {pt:14.0f} {vt/pt:6.2f} {ve:11.0f} {pe:13.0f} {ve/pe:6.2f}")
EOF
# Exit status: 1 when a test program failed (or the CLI smoke did), else 0 (also with --tests-only, no table).
[ ${#failed_tests[@]} -eq 0 ] && [ "${smoke_rc:-0}" -eq 0 ]
