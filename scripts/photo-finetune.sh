#!/usr/bin/env bash
# Continues the default photo model (models/photo.safetensors) on the CPU,
# as the shipped weights were made (models/README.md): phase-1 states only
# (--phase1-frac 1: the states inference visits), photos resized once to a
# shorter side of 512 (OpenCV INTER_AREA; --zoom-max 8 at 64 never needs
# more), then an fp16 export. Resumable: run it again with the same WORK
# and it goes on from the last checkpoint (--resume auto) for another
# TIME. Needs scripts/setup.sh, scripts/fetch-data.sh photos and Debian's
# python3-opencv. NPROC=2 trains with 2 worker processes of 1 thread each
# (data-parallel, the same global batch of 16: on 2 cores 1.17 x one
# 2-thread process, docs/PERFORMANCE.md); a run resumes on any NPROC that
# divides 16. SHUFFLE=1 adds --channel-shuffle (a new run only: a resumed
# run keeps its setting). Usage: scripts/photo-finetune.sh
# (env: WORK, TIME, BASE, NPROC, SHUFFLE)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-$HOME/runs}
TIME=${TIME:-105m}
BASE=${BASE:-models/photo.safetensors}
NPROC=${NPROC:-1}
case $NPROC in 1 | 2 | 4 | 8 | 16) ;; *) echo "photo-finetune: NPROC=$NPROC must divide the batch of 16" >&2; exit 2 ;; esac
# flags of a new run: --batch-size is per worker; a resumed run keeps its global
# batch and re-shards it over NPROC
fresh=(--batch-size $((16 / NPROC)))
[ "${SHUFFLE:-0}" = 1 ] && fresh+=(--channel-shuffle)
if ls "$WORK"/photo-ft/ckpt-*.safetensors >/dev/null 2>&1; then
  fresh=()
  [ "${SHUFFLE:-0}" = 1 ] && echo "photo-finetune: resuming $WORK/photo-ft with its own channel-shuffle setting" >&2
fi
mkdir -p "$WORK/photos-512"
if [ -z "$(ls -A "$WORK/photos-512")" ]; then
  /usr/bin/python3 scripts/resize-photos.py data/photos-train "$WORK/photos-512"
fi
./bin/radctl train --objective rad-full --base "$BASE" --config models/configs/photo.json \
  --data "$WORK/photos-512" --random-crop --zoom-max 8 --mask-kind mixed --phase1-frac 1 \
  --nproc "$NPROC" "${fresh[@]}" --lr 2e-4 --seed 2 --steps 10000000 --max-time "$TIME" \
  --save-every 150 --keep 2 --sample-every 0 --resume auto --quiet --out "$WORK/photo-ft"
./bin/radctl convert --model "$WORK/photo-ft/model.safetensors" --out "$WORK/photo-ft/photo-fp16.safetensors"
echo "next: cp $WORK/photo-ft/photo-fp16.safetensors models/photo.safetensors"
