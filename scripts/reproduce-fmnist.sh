#!/usr/bin/env bash
# Re-creates docs/RESULTS.md's Fashion-MNIST tables: trains what is missing
# (stage skipped when its output exists; every run resumable with
# --resume auto), then evaluates each method (skipped when its report
# exists). Trained weights go to runs/fmnist-*/ (the shipped ones in models/
# are what docs/RESULTS.md used: set SHIPPED=1 to evaluate those instead of
# training). Usage: scripts/reproduce-fmnist.sh   (env: N, SUBSET, RP_N,
# DEVICE, TRAIN_TIME, SHIPPED, OUT, BS, RP_BS, FM: the folder of the IDX
# files; the default one is fetched when files are missing). Every evaluation keeps its
# finished batches (radctl eval --resume): a run stopped midway goes on
# from its last batch when the script is started again.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-250}            # held-out images per mask kind (t10k's first N)
SUBSET=${SUBSET:-12}   # the subset every method is also reported on
RP_N=${RP_N:-$SUBSET}  # RePaint's images (the subset)
DEVICE=${DEVICE:-cpu}
BS=${BS:-100}          # images per batch (what an interruption can lose)
RP_BS=${RP_BS:-20}     # RePaint's (2,410 calls per batch)
TRAIN_TIME=${TRAIN_TIME:-60m}
SHIPPED=${SHIPPED:-0}
OUT=${OUT:-out/eval}
FM=${FM:-}
need=(t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz); [ "$SHIPPED" = 1 ] || need+=(train-images-idx3-ubyte.gz)
if [ -n "$FM" ]; then
  for f in "${need[@]}"; do [ -f "$FM/$f" ] || { echo "reproduce-fmnist: FM=$FM has no $f" >&2; exit 2; }; done
else
  FM=${RAD_DATA:-data}/fashion-mnist
  for f in "${need[@]}"; do [ -f "$FM/$f" ] || { bash scripts/fetch-data.sh fmnist >/dev/null; break; }; done
fi
R=./bin/radctl
if [ "$SHIPPED" = 1 ]; then
  cfg1=(--shipped fmnist); rad=(--shipped fmnist-rad); cfg2=(--shipped fmnist-cfg2)
else
  tr=(--device "$DEVICE" --seed 1 --steps 10000000 --max-time "$TRAIN_TIME" --lr 2e-4 --batch-size 128 --resume auto --quiet)
  [ -f runs/fmnist-base/model.safetensors ] || $R train --objective adm --config models/configs/fmnist.json \
    --data $FM/train-images-idx3-ubyte.gz --out runs/fmnist-base "${tr[@]}"
  for a in rad cfg2; do
    extra=(); [ $a = cfg2 ] && extra=(--scalar-embedding)
    [ -f runs/fmnist-$a/adapter.safetensors ] || $R train --objective rad-lora --base runs/fmnist-base/model.safetensors \
      --data $FM/train-images-idx3-ubyte.gz --out runs/fmnist-$a "${tr[@]}" "${extra[@]}"
  done
  cfg1=(--base runs/fmnist-base/model.safetensors); rad=("${cfg1[@]}" --lora runs/fmnist-rad/adapter.safetensors)
  cfg2=("${cfg1[@]}" --lora runs/fmnist-cfg2/adapter.safetensors)
fi
ev() { # name args...
  local name=$1; shift
  [ -f "$OUT/$name/report.json" ] && return
  echo "eval $name: $(date +%T)"
  $R eval --data $FM/t10k-images-idx3-ubyte.gz --device "$DEVICE" --out "$OUT/$name" --resume "$@"
}
ev mean-fill "${cfg1[@]}" --sampler mean-fill --n "$N" --subset "$SUBSET" --batch-size "$BS"
ev rad "${rad[@]}" --sampler rad --n "$N" --subset "$SUBSET" --batch-size "$BS"
ev cfg1 "${cfg1[@]}" --sampler rad --n "$N" --subset "$SUBSET" --batch-size "$BS"
ev cfg2 "${cfg2[@]}" --sampler rad --scalar-embedding --n "$N" --subset "$SUBSET" --batch-size "$BS"
ev repaint "${cfg1[@]}" --sampler repaint --n "$RP_N" --batch-size "$RP_BS"
echo "done: $(date +%T); reports in $OUT/*/report.md"
echo; /usr/bin/python3 scripts/fmnist-table.py "$OUT"
