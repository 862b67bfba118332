#!/usr/bin/env bash
# Runs the loopback call demo on built-in generated media: two calls in one process talk
# over UDP on 127.0.0.1 with end-to-end keys agreed between them, then print their stats.
# Installs missing system packages first. Arguments go to the example (seconds).
# (Dependencies are optimised even in the dev profile, so no release build is needed.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
cargo run --example loopback_call -- "$@"
