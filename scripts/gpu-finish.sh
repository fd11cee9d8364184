#!/usr/bin/env bash
# The open compute of issues 10 and 11 in one device run (a CUDA machine with
# a PyTorch 2.x wheel but no Go): rebuilds the shim there, then side by side
# on the one GPU
#   photo  continues the shipped default model (models/photo.safetensors) as
#          scripts/photo-finetune.sh does on the CPU (phase-1 states, photos
#          at a shorter side of 512), batch 64, for T_PHOTO seconds, and
#          exports it as fp16 with radctl convert;
#   fmnist the Fashion-MNIST evaluation of docs/RESULTS.md §2 on the shipped
#          weights (scripts/reproduce-fmnist.sh with DEVICE=cuda, N images per
#          mask kind, RePaint on the first RP_N), for at most T_EVAL seconds.
# Prepare here (Go machine):
#   scripts/gpu-build.sh && scripts/gpu-finish.sh --prepare
# which fills .gpudata/photos-512 and .gpudata/fmnist-t10k; then on
# the device, carrying bin/radctl, .gpudata/fmnist-t10k and .gpudata/photos-512:
#   OUT=$OUT bash scripts/gpu-finish.sh
# $OUT gets photo-fp16.safetensors, the training log and jsonl, and
# fmnist-eval.tgz (every report, grid and per-image CSV; no kept batches).
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --prepare ]; then
  set -e
  bash scripts/fetch-data.sh fmnist >/dev/null
  bash scripts/fetch-data.sh photos >/dev/null
  mkdir -p .gpudata/fmnist-t10k .gpudata/photos-512
  cp -n "${RAD_DATA:-data}"/fashion-mnist/t10k-* .gpudata/fmnist-t10k/
  [ -n "$(ls -A .gpudata/photos-512)" ] || /usr/bin/python3 scripts/resize-photos.py "${RAD_DATA:-data}"/photos-train .gpudata/photos-512
  du -sh bin/radctl .gpudata/fmnist-t10k .gpudata/photos-512
  exit 0
fi
# the device runs one command for at most 600 s: shim build + the longer of
# the two + export and tar must fit
T_PHOTO=${T_PHOTO:-300}
T_EVAL=${T_EVAL:-300}
N=${N:-1000}
RP_N=${RP_N:-100}
source scripts/gpu-env.sh
W=/tmp/runs; mkdir -p $W
# photo-finetune.sh's flags but batch 64 and seed 3 (another sample stream
# than the CPU stage's seed 2)
./bin/radctl train --objective rad-full --base models/photo.safetensors --config models/configs/photo.json \
  --data .gpudata/photos-512 --random-crop --zoom-max 8 --mask-kind mixed --phase1-frac 1 \
  --batch-size 64 --lr 2e-4 --seed 3 --steps 10000000 --max-time ${T_PHOTO}s --device cuda \
  --save-every 1000 --keep 1 --sample-every 0 --quiet --out $W/photo-ft > $W/photo.log 2>&1 &
photo=$!
N=$N SUBSET=100 RP_N=$RP_N SHIPPED=1 DEVICE=cuda BS=500 RP_BS=100 FM=.gpudata/fmnist-t10k OUT=$W/fmnist-eval \
  timeout ${T_EVAL} bash scripts/reproduce-fmnist.sh > $W/fmnist.log 2>&1
echo "fmnist: exit $? after $(( $(date +%s) - t0 )) s" | tee -a "$OUT/machine.txt"
wait $photo
echo "photo: exit $? after $(( $(date +%s) - t0 )) s: $(tail -c 300 $W/photo.log | tr '\n' ' ')" | tee -a "$OUT/machine.txt"
./bin/radctl convert --model $W/photo-ft/model.safetensors --out "$OUT/photo-fp16.safetensors" >> "$OUT/machine.txt" 2>&1
cp $W/photo.log $W/fmnist.log $W/photo-ft/train.jsonl "$OUT/" 2>/dev/null
(cd $W && tar czf "$OUT/fmnist-eval.tgz" --exclude=parts fmnist-eval)
ls -la "$OUT"
echo "total: $(( $(date +%s) - t0 )) s" | tee -a "$OUT/machine.txt"
