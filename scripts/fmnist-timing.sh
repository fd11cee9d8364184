#!/bin/bash
# Seconds per image of every Fashion-MNIST method, side by side in one run
# (docs/RESULTS.md §2): the first N t10k images with box masks, one batch
# of N, RADTORCH_THREADS threads (default 2), the shipped weights. Run it
# on an otherwise idle machine; the methods run one after the other, twice
# (ROUNDS), in alternating order.
#
#   bash scripts/fmnist-timing.sh          # after scripts/setup.sh and scripts/fetch-data.sh fmnist
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10} ROUNDS=${ROUNDS:-2} OUT=${OUT:-out/fmnist-timing}
export RADTORCH_THREADS=${RADTORCH_THREADS:-2}
FM=${FM:-${RAD_DATA:-data}/fashion-mnist}
[ -f "$FM/t10k-images-idx3-ubyte.gz" ] || { echo "no $FM/t10k-images-idx3-ubyte.gz: run scripts/fetch-data.sh fmnist" >&2; exit 1; }
declare -A args=(
  [rad]="--shipped fmnist-rad --sampler rad"
  [rad-unmerged]="--shipped fmnist-rad --sampler rad --unmerged-lora"
  [cfg1]="--shipped fmnist --sampler rad"
  [cfg2]="--shipped fmnist-cfg2 --sampler rad --scalar-embedding"
  [repaint]="--shipped fmnist --sampler repaint"
)
order=(rad rad-unmerged cfg1 cfg2 repaint)
rm -rf "$OUT"
for r in $(seq 1 "$ROUNDS"); do
  for m in "${order[@]}"; do
    # shellcheck disable=SC2086
    ./bin/radctl eval --data "$FM/t10k-images-idx3-ubyte.gz" --n "$N" --batch-size "$N" --masks box \
      --out "$OUT/$r-$m" ${args[$m]} > /dev/null
  done
  # the next round in the reverse order
  for ((i = 0, j = ${#order[@]} - 1; i < j; i++, j--)); do t=${order[i]}; order[i]=${order[j]}; order[j]=$t; done
done
/usr/bin/python3 - "$OUT" "$ROUNDS" <<'PY'
import json, sys
out, rounds = sys.argv[1], int(sys.argv[2])
names = {"rad": "RAD (LoRA, spatial)", "rad-unmerged": "RAD, LoRA unmerged (--unmerged-lora)", "cfg1": "Cfg. 1 (base ADM, RAD sampler)",
         "cfg2": "Cfg. 2 (LoRA, scalar embedding)", "repaint": "RePaint (250 steps, jump 10x10)"}
print("| method | calls/image | " + " | ".join(f"s/image, round {r}" for r in range(1, rounds + 1)) + " | / RAD |")
print("|---|---|" + "---|" * rounds + "---|")
rad = None
for m, name in names.items():
    rows = [json.load(open(f"{out}/{r}-{m}/report.json"))["rows"][0] for r in range(1, rounds + 1)]
    s = [row["seconds_per_image"] for row in rows]
    rad = rad or s
    ratio = " / ".join(f"{a / b:.2f}" for a, b in zip(s, rad))
    print(f"| {name} | {rows[0]['calls_per_image']} | " + " | ".join(f"{x:.2f}" for x in s) + f" | {ratio} |")
PY
