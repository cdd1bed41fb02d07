#!/usr/bin/env bash
# Renders a run's report.html in a real browser (Debian's chromium, headless) and checks the screenshot.
#   bash scripts/check_report.sh                 trains mlp-vae (3 epochs, 10000 images) into out/report-check/
#   bash scripts/check_report.sh --run DIR       uses an existing run (its report.html is rebuilt by `vae report`)
#   options: --out FILE (default docs/images/report.png), --size WxH (default 1280x2400)
# Needs the built tool (build/tools/vae, or VAE_BUILD_DIR/tools/vae) and python3; installs chromium when missing.
# A developer's check, not part of scripts/test.sh: chromium is large and slow to start.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

run="" out=docs/images/report.png size=1280x2400
while [ $# -gt 0 ]; do
  case "$1" in
    --run) run="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --size) size="$2"; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "check_report.sh: unknown option '$1' (use --run DIR, --out FILE, --size WxH)" >&2; exit 2 ;;
  esac
done
[[ "$size" =~ ^[0-9]+x[0-9]+$ ]] || { echo "check_report.sh: --size must be WxH, e.g. 1280x2000 (got '$size')" >&2; exit 2; }

tool="${VAE_BUILD_DIR:-build}/tools/vae"
if [ ! -x "$tool" ]; then
  echo "check_report.sh: $tool not found; build it first: cmake --build ${VAE_BUILD_DIR:-build} --target vae_cli" >&2
  exit 1
fi
command -v python3 >/dev/null || { echo "check_report.sh: python3 is needed (apt-get install python3)" >&2; exit 1; }

if ! command -v chromium >/dev/null; then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "check_report.sh: chromium is missing and we are not root (no sudo)" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "check_report.sh: installing chromium (Debian package)"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
fi

if [ -z "$run" ]; then
  run=out/report-check
  rm -rf "$run"
  "$tool" train --model mlp-vae --epochs 3 --limit 10000 --seed 0 --out "$run"
fi
"$tool" report --run "$run"
report="$(cd "$run" && pwd)/report.html"

mkdir -p "$(dirname "$out")"
shot=$(mktemp --suffix=.png)
log=$(mktemp)
trap 'rm -f "$shot" "$log"' EXIT
# --no-sandbox: chromium's sandbox needs user namespaces, which containers (and root) often lack. The page has no
# script and no network access to wait for, so the screenshot is taken once the page has loaded.
if ! timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
    --window-size="${size/x/,}" --screenshot="$shot" "file://$report" >"$log" 2>&1 || [ ! -s "$shot" ]; then
  echo "check_report.sh: chromium wrote no screenshot of $report; its output:" >&2
  cat "$log" >&2
  exit 1
fi
python3 scripts/lib/check_screenshot.py "$shot" "$report"
install -m 644 "$shot" "$out"
echo "check_report.sh: $(chromium --version 2>/dev/null) rendered $report; screenshot in $out"
