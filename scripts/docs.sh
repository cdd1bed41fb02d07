#!/usr/bin/env bash
# Builds the API reference from the public headers (include/vae) with doxygen into build-docs/api/html/ and fails on
# any doxygen warning (they are printed). Override the output folder with VAE_DOCS_OUT.
#   bash scripts/docs.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v doxygen >/dev/null || { echo "docs.sh: doxygen not found (apt-get install doxygen)" >&2; exit 1; }
export VAE_DOCS_OUT=${VAE_DOCS_OUT:-build-docs/api}
rm -rf "$VAE_DOCS_OUT/html" "$VAE_DOCS_OUT/warnings.log"  # only what doxygen writes there
mkdir -p "$VAE_DOCS_OUT"
doxygen docs/Doxyfile
warnings=$(grep -c . "$VAE_DOCS_OUT/warnings.log" || true)
if [ "$warnings" -ne 0 ]; then
  cat "$VAE_DOCS_OUT/warnings.log" >&2
  echo "docs.sh: $warnings doxygen warning line(s) (above)" >&2
  exit 1
fi
echo "docs.sh: API reference in $VAE_DOCS_OUT/html/index.html, 0 doxygen warnings"
