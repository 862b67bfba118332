#!/usr/bin/env bash
# Runs the demo on built-in generated media: installs missing system packages, builds
# in release mode and prints the latency tables.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
cargo run --release --example pipeline_demo -- "$@"
