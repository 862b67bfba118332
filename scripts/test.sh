#!/usr/bin/env bash
# Runs the whole test suite: installs missing system packages, then every unit,
# integration and doc test. The GPU tests run for real on Mesa's software Vulkan
# (lavapipe) when no GPU is present.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# wgpu warns without it; a private directory is enough.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
cargo test --all-targets
cargo test --doc
