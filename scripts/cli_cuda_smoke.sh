#!/usr/bin/env bash
# GPU smoke test of `vae train/eval/sample/reconstruct --device cuda` (needs a CUDA GPU, python3, Fashion-MNIST).
#   bash scripts/cli_cuda_smoke.sh [path/to/vae [FASHION_MNIST_DIR]]
#     vae: default build/tools/vae, built with -DVAE_WITH_CUDA=ON (it may be built elsewhere: libraries it needs that
#       the GPU machine lacks go in lib/ beside it, as for benchmarks/gpu_session.sh):
#       cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DVAE_WITH_CUDA=ON && cmake --build build -j --target vae_cli
#     FASHION_MNIST_DIR: the four .gz files, copied to /usr/share/datasets/fashion-mnist when that is missing.
# For mlp-vae and conv-vae (1 epoch, --limit 2560, seed 3) it
#   1. trains on cuda, then evaluates that run on the cpu and on cuda (first 2000 test images): the test ELBOs must
#      agree to a relative 1e-4 (same weights and the same eps draws on both sides — the generator is counter-based and identical on host and
#      device — so only float summation order differs: cuBLAS vs OpenBLAS, FMA; expected ~1e-6);
#   2. trains the same run on the cpu and prints both trajectories (train loss, test ELBO). Same seed means the same
#      initial weights (drawn on the host, uploaded), the same batches (host sampler) and the same eps draws, so the
#      epoch's mean train loss is expected to agree to ~1e-4 relative; the script fails above 1e-2 (a real bug, e.g.
#      different draws or a wrong gradient, shows up as several percent);
# then, on the mlp-vae cuda run: resume to epoch 2 on cuda, sample/reconstruct on both devices, a NaN stop on cuda
# (--lr 1e9: exit 1, "training stopped", the checkpoint left as it was); mlp-ae and conv-ae train on cuda and
# evaluate on both devices (test MSE, relative 1e-4); conv-vae --res-blocks 1 likewise (test ELBO); vq-vae (ema,
# --no-kmeans --no-restart) trains on cuda and evaluates on both devices (MSE, 1e-3), its tokens round-trip exactly
# on cuda, encode on cuda then decode on cpu; vq-vae with its defaults (k-means initialisation, dead-code restarts)
# trains on cuda and evaluates on both devices.
# Expected wall time on an H100: ~30-50 s (mostly process start-up, data loading, cpu evaluation). Exit 0 = pass.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

vae=${1:-build/tools/vae}
if [ ! -x "$vae" ]; then
  echo "cli_cuda_smoke.sh: no vae binary at '$vae' (build target vae_cli with -DVAE_WITH_CUDA=ON, or pass its path)" >&2
  exit 2
fi
command -v python3 >/dev/null || { echo "cli_cuda_smoke.sh: needs python3 (JSON comparisons)" >&2; exit 2; }
fmnist=/usr/share/datasets/fashion-mnist
if [ ! -f "$fmnist/train-images-idx3-ubyte.gz" ]; then
  [ -n "${2:-}" ] || { echo "cli_cuda_smoke.sh: no Fashion-MNIST in $fmnist: pass its folder as 2nd argument" >&2; exit 2; }
  mkdir -p "$fmnist" && cp -n "$2"/*.gz "$fmnist"/
fi
# CUDA 13's libraries wherever this image keeps them, and lib/ beside the binary (as benchmarks/gpu_session.sh).
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib "$(dirname "$vae")/lib" \
  $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, q, "lib") for p in nvidia.__path__ for q in os.listdir(p)))' 2>/dev/null); do
  [ -d "$d" ] && export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"
done
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
out=$(mktemp -d /tmp/vae_cli_cuda_smoke.XXXXXX)
start=$(date +%s.%N)
failures=0
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}

elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$start" "$(date +%s.%N)"; }
say() { echo "[$(elapsed) s] $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# Runs the tool, keeping its output in $out/log.<n>; stops the script when it fails.
n=0
vae_ok() {
  n=$((n + 1))
  if ! "$vae" "$@" >"$out/log.$n" 2>&1; then
    echo "FAIL: vae $* (exit non-zero):"; tail -20 "$out/log.$n"; exit 1
  fi
}
# The last JSON line of a log.
last_json() { grep '^{' "$1" | tail -1; }
# compare LABEL KEY JSON_A JSON_B RTOL: prints both values, returns non-zero when |a - b| > rtol·|b|.
compare() {
  python3 - "$@" <<'EOF'
import json, sys
label, key, a, b, rtol = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4]), float(sys.argv[5])
va, vb = float(a[key]), float(b[key])
err = abs(va - vb) / max(abs(vb), 1e-30)
ok = err <= rtol
print(f"  {label}: {key} {va:.8g} vs {vb:.8g}  (relative difference {err:.2e}, tolerance {rtol:g}) {'ok' if ok else 'TOO FAR'}")
sys.exit(0 if ok else 1)
EOF
}
# Prints the metrics.jsonl of two runs side by side.
trajectories() {
  python3 - "$@" <<'EOF'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
b = [json.loads(l) for l in open(sys.argv[2] + "/metrics.jsonl")]
for ra, rb in zip(a, b):
    for key in ("train_loss", "test_elbo", "test_mse"):
        if key in ra:
            err = abs(ra[key] - rb[key]) / max(abs(rb[key]), 1e-30)
            print(f"  epoch {ra['epoch']} {key}: cuda {ra[key]:.8g}  cpu {rb[key]:.8g}  (relative difference {err:.2e})")
    print(f"  epoch {ra['epoch']} train samples/s: cuda {ra['train_samples_per_s']:.0f}  cpu {rb['train_samples_per_s']:.0f}")
EOF
}

train_args="--epochs 1 --limit 2560 --batch 128 --seed 3"
eval_args="--limit 2000"  # vae eval on the first 2000 test images (training evaluates all 10000)
for model in mlp-vae conv-vae; do
  say "$model: train on cuda"
  vae_ok train --model "$model" --device cuda $train_args --out "$out/$model-cuda"
  if [ "$model" = mlp-vae ]; then grep -m1 "^device" "$out/log.$n" || true; fi
  grep -q '"device": "cuda"' "$out/$model-cuda/config.json" || fail "$model: config.json does not record device cuda"
  for f in model.safetensors optimizer.safetensors metrics.jsonl reconstructions.png samples.png interpolation.png; do
    [ -s "$out/$model-cuda/$f" ] || fail "$model cuda run: $f missing"
  done
  say "$model: evaluate the cuda run on the cpu and on cuda"
  vae_ok eval --run "$out/$model-cuda" $eval_args
  on_cpu=$(last_json "$out/log.$n")
  vae_ok eval --run "$out/$model-cuda" $eval_args --device cuda
  on_cuda=$(last_json "$out/log.$n")
  compare "$model cuda run, eval cuda vs cpu" test_elbo "$on_cuda" "$on_cpu" 1e-4 || fail "$model: test ELBO cuda vs cpu"
  compare "$model cuda run, eval cuda vs cpu" test_mse "$on_cuda" "$on_cpu" 1e-4 || fail "$model: test MSE cuda vs cpu"
  say "$model: the same run on the cpu"
  vae_ok train --model "$model" $train_args --out "$out/$model-cpu"
  trajectories "$out/$model-cuda" "$out/$model-cpu"
  compare "$model train loss of epoch 1, cuda vs cpu" train_loss "$(head -1 "$out/$model-cuda/metrics.jsonl")" \
    "$(head -1 "$out/$model-cpu/metrics.jsonl")" 1e-2 || fail "$model: epoch-1 train loss cuda vs cpu"
done

run="$out/mlp-vae-cuda"
say "mlp-vae: resume the cuda run to epoch 2 (device from config.json)"
vae_ok train --resume "$run" --epochs 2
python3 - "$run" <<'EOF' || fail "mlp-vae: resume on cuda"
import json, sys
m = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
assert len(m) == 2 and m[1]["epoch"] == 2 and m[1]["step"] == 2 * (2560 // 128), m
assert m[1]["train_loss"] < m[0]["train_loss"], (m[0]["train_loss"], m[1]["train_loss"])
print(f"  resumed: epoch 2 train_loss {m[1]['train_loss']:.6g} < epoch 1 {m[0]['train_loss']:.6g}, step {m[1]['step']}")
EOF
say "mlp-vae: sample and reconstruct on both devices"
for d in cpu cuda; do
  vae_ok sample --run "$run" --n 16 --device "$d" --out "$out/s-$d.png"
  vae_ok reconstruct --run "$run" --device "$d" --out "$out/r-$d.png"
  [ -s "$out/s-$d.png" ] && [ -s "$out/r-$d.png" ] || fail "sample/reconstruct --device $d wrote no PNG"
done
say "mlp-vae: NaN on cuda stops training and keeps the checkpoint"
cp "$run/model.safetensors" "$out/before.safetensors"
if "$vae" train --resume "$run" --epochs 3 --lr 1e9 >"$out/nan.log" 2>&1; then
  fail "--lr 1e9 on cuda did not stop"
else
  grep -q "training stopped" "$out/nan.log" || fail "NaN on cuda: no 'training stopped' message"
  grep -q "last good checkpoint (after epoch 2)" "$out/nan.log" || fail "NaN on cuda: last good checkpoint not named"
  cmp -s "$run/model.safetensors" "$out/before.safetensors" || fail "NaN on cuda: the checkpoint changed"
  grep -m1 "training stopped" "$out/nan.log" | cut -c1-200
fi

for model in mlp-ae conv-ae; do
  say "$model: train on cuda, evaluate on both devices"
  vae_ok train --model "$model" --device cuda $train_args --out "$out/$model-cuda"
  vae_ok eval --run "$out/$model-cuda" $eval_args
  on_cpu=$(last_json "$out/log.$n")
  vae_ok eval --run "$out/$model-cuda" $eval_args --device cuda
  on_cuda=$(last_json "$out/log.$n")
  compare "$model cuda run, eval cuda vs cpu" test_mse "$on_cuda" "$on_cpu" 1e-4 || fail "$model: test MSE cuda vs cpu"
done

say "conv-vae --res-blocks 1: train on cuda, evaluate on both devices"
vae_ok train --model conv-vae --res-blocks 1 --device cuda $train_args --out "$out/res-cuda"
vae_ok eval --run "$out/res-cuda" $eval_args
on_cpu=$(last_json "$out/log.$n")
vae_ok eval --run "$out/res-cuda" $eval_args --device cuda
on_cuda=$(last_json "$out/log.$n")
compare "conv-vae --res-blocks 1 cuda run, eval cuda vs cpu" test_elbo "$on_cuda" "$on_cpu" 1e-4 || fail "res-blocks: test ELBO"

say "vq-vae (ema, --no-kmeans --no-restart): train on cuda, evaluate on both devices, tokens"
vae_ok train --model vq-vae --quantizer ema --no-kmeans --no-restart --device cuda $train_args --out "$out/vq-cuda"
vae_ok eval --run "$out/vq-cuda" $eval_args
on_cpu=$(last_json "$out/log.$n")
vae_ok eval --run "$out/vq-cuda" $eval_args --device cuda
on_cuda=$(last_json "$out/log.$n")
# MSE at 1e-3: a test image whose two nearest codes are within float rounding may pick another code on the other side.
compare "vq-vae cuda run, eval cuda vs cpu" test_mse "$on_cuda" "$on_cpu" 1e-3 || fail "vq-vae: test MSE cuda vs cpu"
python3 - "$on_cuda" "$on_cpu" <<'PY' || fail "vq-vae: token round trip on cuda"
import json, sys
cu, cp = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"  codes used {cu['codes_used']} (cuda) / {cp['codes_used']} (cpu) of {cu['codebook_size']}; "
      f"token_roundtrip_exact: cuda {cu['token_roundtrip_exact']}, cpu {cp['token_roundtrip_exact']}")
assert cu["token_roundtrip_exact"] is True
PY
vae_ok encode --run "$out/vq-cuda" --device cuda --n 64 --out "$out/tokens.npy"
vae_ok decode --run "$out/vq-cuda" --tokens "$out/tokens.npy" --out "$out/decoded.png"
[ -s "$out/decoded.png" ] || fail "vq-vae: encode on cuda then decode on cpu wrote no PNG"
say "vq-vae with its defaults (vq, k-means initialisation, dead-code restarts) on cuda: train, evaluate on both devices"
vae_ok train --model vq-vae --device cuda $train_args --out "$out/vq-kmeans"
vae_ok eval --run "$out/vq-kmeans" $eval_args
on_cpu=$(last_json "$out/log.$n")
vae_ok eval --run "$out/vq-kmeans" $eval_args --device cuda
on_cuda=$(last_json "$out/log.$n")
compare "vq-vae (k-means, restarts) cuda run, eval cuda vs cpu" test_mse "$on_cuda" "$on_cpu" 1e-3 ||
  fail "vq-vae k-means/restarts: test MSE cuda vs cpu"
python3 - "$out/vq-kmeans" <<'PY' || fail "vq-vae k-means/restarts: metrics"
import json, sys
m = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")][-1]
keys = sorted(k for k in m if "restart" in k or "codes_used" in k)
print("  " + ", ".join(f"{k} {m[k]}" for k in keys))
assert any("restart" in k for k in keys), "no restart count in metrics.jsonl"
PY

say "done: $failures failure(s); outputs in $out"
[ "$failures" -eq 0 ] && rm -rf "$out"
exit $((failures > 0))
