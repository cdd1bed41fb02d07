# Shared by scripts/test.sh and scripts/demo.sh: installs the Debian 12 packages vae needs, only when missing.
# Source it, then call vae_install_deps. Runs apt-get update at most once; uses sudo when not root.

VAE_DEBIAN_PACKAGES=(
  build-essential cmake
  libeigen3-dev xtensor-dev libxsimd-dev xtl-dev   # Debian 12 ships libxtl as "xtl-dev"
  doctest-dev zlib1g-dev libstb-dev libturbojpeg0-dev nlohmann-json3-dev libcli11-dev
  libbenchmark-dev libopenblas-dev
  dataset-fashion-mnist
  libsentencepiece-dev                             # the caption tokenizer (optional: VAE_WITH_SENTENCEPIECE)
  doxygen python3   # scripts/docs.sh (the API reference) and its comment filter
  libopenmpi-dev openmpi-bin                       # data-parallel training (optional: VAE_WITH_MPI)
  clang-14 libclang-rt-14-dev                      # scripts/fuzz.sh: libFuzzer with ASan + UBSan
)

vae_install_deps() {
  local missing=() pkg
  for pkg in "${VAE_DEBIAN_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#VAE_DEBIAN_PACKAGES[@]} Debian packages present"
    return 0
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "deps: missing ${missing[*]} and not root (no sudo)" >&2; return 1; }
    sudo=(sudo)
  fi
  echo "deps: installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}
