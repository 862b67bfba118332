#!/usr/bin/env bash
# Installs the Debian/Ubuntu system packages Sottovoce needs to build and test.
# Idempotent: packages already present are skipped, and apt is not touched at all
# when everything is installed. Runs apt-get as root, or through sudo when available.
set -euo pipefail

packages=(
  build-essential pkg-config cmake nasm   # C toolchain; nasm gives rav1e its assembly
  clang libclang-dev                      # bindgen for the libaom bindings
  libdav1d-dev                            # AV1 decoder
  libaom-dev                              # AV1 real-time encoder (zero-lag backend)
  mesa-vulkan-drivers libvulkan1          # lavapipe: wgpu runs on the CPU in CI
  autoconf automake libtool               # bundled WebRTC audio processing build
  fonts-dejavu-core                       # text in the call examples' --plot
)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all system packages present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
