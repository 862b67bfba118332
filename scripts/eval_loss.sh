#!/usr/bin/env bash
# PESQ-WB of real speech through loopback calls under one network condition: every
# recording in ../shared/media/speech (or the WAVs given with RECORDINGS=...) x seeds x
# both directions, with the playout counters of each run.
#
#   scripts/eval_loss.sh "--loss 5%"                      # seeds 1..6
#   SEEDS="1 2 3" scripts/eval_loss.sh "--loss 5% --jitter 30ms"
#
# Prints one line per run and direction (PESQ, FEC-recovered/lost, concealed, time-scaling
# actions) and the mean and minimum. Needs `pip install numpy scipy pesq`.
set -euo pipefail
cd "$(dirname "$0")/.."
condition=${1:?usage: eval_loss.sh \"NETWORK FLAGS\"}
seeds=${SEEDS:-1 2 3 4 5 6}
recordings=${RECORDINGS:-"../shared/media/speech/hello_16k.wav ../shared/media/speech/codec2_orig_16k.wav ../shared/media/speech/arctic_a0007_16k.wav"}
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
cargo build -q --example loopback_call
work=$(mktemp -d)
scores=()
for rec in $recordings; do
  for seed in $seeds; do
    out="$work/$(basename "$rec" .wav)-$seed"
    # shellcheck disable=SC2086
    log=$(target/debug/examples/loopback_call --audio "$rec" --no-video --no-probe $condition \
      --seed "$seed" --out "$out" 2>&1)
    mapfile -t receive < <(grep '^audio receive:' <<<"$log")
    mapfile -t buffer < <(grep '^jitter buffer:' <<<"$log")
    i=0
    while read -r line; do
      score=$(awk '{print $3}' <<<"$line")
      scores+=("$score")
      dir=$(awk '{print $1}' <<<"$line" | tr -d :)
      fec=$(sed -E 's/.*lost ([0-9]+) of [0-9]+.*FEC-recovered ([0-9]+).*concealed ([0-9]+ ms).*/fec \2\/\1, concealed \3/' <<<"${receive[$i]}")
      ts=$(sed -E 's/.*accelerate ([0-9]+), stretch ([0-9]+).*/accel \1 stretch \2/' <<<"${buffer[$i]}")
      printf '%-22s seed %s %-14s PESQ %s  %s  %s\n' "$(basename "$rec" .wav)" "$seed" "$dir" "$score" "$fec" "$ts"
      i=$((i + 1))
    done < <(python3 scripts/eval_call.py "$out" | grep PESQ | sed -E 's/^([^:]+): PESQ-WB ([0-9.]+).*/\1: PESQ \2/')
  done
done
printf '%s\n' "${scores[@]}" | awk -v c="$condition" '{s+=$1; if(min==""||$1<min)min=$1; n++; if($1<3.5)u++} END {printf "%s: %d runs, mean %.2f, min %.2f, %d under 3.5\n", c, n, s/n, min, u}'
rm -rf "$work"
