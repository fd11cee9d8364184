#!/usr/bin/env bash
# Data-parallel training throughput on this machine, side by side in one
# run: 1 process x T threads against N processes x T/N threads at the same
# global batch, rad-full on the Fashion-MNIST config, plus the all-reduce's
# share of a step (rank 0's comm_seconds / seconds in train.jsonl).
# Usage: scripts/ddp-bench.sh [DATA]   (env: STEPS=30 GLOBAL=16 NPROC=2
# THREADS=2 ROUNDS=2 CONFIG=models/configs/fmnist.json; CONTROL=1 adds a
# row of 1 process x 1 thread at the global batch)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
DATA=${1:-data/fashion-mnist/train-images-idx3-ubyte.gz}
STEPS=${STEPS:-30} GLOBAL=${GLOBAL:-16} NPROC=${NPROC:-2} THREADS=${THREADS:-2} ROUNDS=${ROUNDS:-2}
CONFIG=${CONFIG:-models/configs/fmnist.json}
go build -o bin/radctl ./cmd/radctl
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
common=(--objective rad-full --config "$CONFIG" --data "$DATA" --steps "$STEPS" --workers 1
  --save-every 0 --sample-every 0 --seed 1 --quiet)
stats() { # log -> "steps/s comm-share" over the steps after the first 3
  python3 - "$1" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][3:]
s = sum(x["seconds"] for x in r); c = sum(x.get("comm_seconds", 0) for x in r)
print(f"{len(r)/s:.3f} {100*c/s:.1f}")
PY
}
printf "%-6s %-28s %-10s %s\n" round setup steps/s allreduce%
for round in $(seq "$ROUNDS"); do
  RADTORCH_THREADS=$THREADS bin/radctl train "${common[@]}" --batch-size "$GLOBAL" --out "$tmp/one-$round" >/dev/null
  read -r sps comm < <(stats "$tmp/one-$round/train.jsonl")
  printf "%-6s %-28s %-10s %s\n" "$round" "1 x $THREADS threads, batch $GLOBAL" "$sps" "-"
  RADTORCH_THREADS=$((THREADS / NPROC)) bin/radctl train "${common[@]}" --nproc "$NPROC" \
    --batch-size $((GLOBAL / NPROC)) --out "$tmp/dp-$round" >/dev/null
  read -r sps comm < <(stats "$tmp/dp-$round/train.jsonl")
  printf "%-6s %-28s %-10s %s\n" "$round" "$NPROC x $((THREADS / NPROC)) thread(s), batch $((GLOBAL / NPROC)) each" "$sps" "$comm"
  if [ "${CONTROL:-0}" = 1 ]; then
    RADTORCH_THREADS=1 bin/radctl train "${common[@]}" --batch-size "$GLOBAL" --out "$tmp/ctl-$round" >/dev/null
    read -r sps comm < <(stats "$tmp/ctl-$round/train.jsonl")
    printf "%-6s %-28s %-10s %s\n" "$round" "1 x 1 thread, batch $GLOBAL" "$sps" "-"
  fi
done
