#!/usr/bin/env bash
# Trains the object-removal photo model (models/photo.safetensors since
# 2026-12-06; models/README.md, docs/RESULTS.md §1b): the third-stage eps
# model fine-tuned into v-prediction (--prediction v: its x0 is well
# conditioned at every noise level, docs/DESIGN.md §2.8) on the wider photo
# set (scripts/fetch-data.sh photos: 57 photos, docs/DATA.md), resized once
# to a shorter side of 512, with the large-mix masks (LaMa's boxes and
# object blobs beside Perlin, strokes and thick masks), phase-1 states
# only, 2 data-parallel processes of 1 thread (global batch 16). Resumable:
# run it again with the same WORK and it goes on from its last checkpoint
# (--resume auto) for another TIME; then the fp16 export. Track what it
# knows with radctl x0err (printed at the end). Needs scripts/setup.sh,
# scripts/fetch-data.sh photos and Debian's python3-opencv.
# Usage: scripts/photo-large.sh   (env: WORK=$HOME/runs-v, TIME=150m, BASE, NPROC=2)
# The context stage (a 128 px working size, models/README.md): WORK=$HOME/runs-ctx
#   BASE=<the v model> CONFIG=models/configs/photo128.json ZOOM=4 BATCH=8 LR=1e-4 SEED=4
#   SIZE=128 scripts/photo-large.sh
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-$HOME/runs-v}
TIME=${TIME:-150m}
NPROC=${NPROC:-2}
CONFIG=${CONFIG:-models/configs/photo.json}
ZOOM=${ZOOM:-8}
BATCH=${BATCH:-16}
LR=${LR:-2e-4}
SEED=${SEED:-3}
SIZE=${SIZE:-64}
# the run's base: the eps third stage (git show acdc86b:models/photo.safetensors)
if [ -z "${BASE:-}" ]; then
  BASE=$WORK/base-eps.safetensors
  [ -f "$BASE" ] || git show acdc86b:models/photo.safetensors > "$BASE"
fi
if [ $((BATCH % NPROC)) -ne 0 ]; then echo "photo-large: NPROC=$NPROC must divide BATCH=$BATCH" >&2; exit 2; fi
mkdir -p "$WORK/photos-512"
if [ -z "$(ls -A "$WORK/photos-512")" ]; then
  /usr/bin/python3 scripts/resize-photos.py data/photos-train "$WORK/photos-512"
fi
./bin/radctl train --objective rad-full --base "$BASE" --config "$CONFIG" --prediction v \
  --data "$WORK/photos-512" --random-crop --zoom-max "$ZOOM" --mask-kind large-mix --phase1-frac 1 \
  --nproc "$NPROC" --batch-size $((BATCH / NPROC)) --lr "$LR" --seed "$SEED" --steps 10000000 --max-time "$TIME" \
  --save-every 100 --keep 2 --sample-every 0 --resume auto --quiet --out "$WORK/photo-v"
./bin/radctl convert --model "$WORK/photo-v/model.safetensors" --out "$WORK/photo-v/photo-fp16.safetensors"
./bin/radctl x0err --base "$WORK/photo-v/photo-fp16.safetensors" --data data/photos-heldout-large --size "$SIZE" --repeats 4 --masks object
echo "next: cp $WORK/photo-v/photo-fp16.safetensors models/photo.safetensors"
