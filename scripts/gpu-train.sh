#!/usr/bin/env bash
# Trains the shipped models on a CUDA machine with a PyTorch 2.x wheel but
# no Go (the device tool): rebuilds the shim there, then runs bin/radctl
# (built elsewhere by scripts/gpu-build.sh) on the data in .gpudata/
# (photos/ and fmnist/, made by scripts/fetch-data.sh), all runs side by
# side on the one GPU, each stopped by --max-time:
#   photo        rad-full from scratch on natural-photo patches (the default model)
#   fmnist-base  adm from scratch on Fashion-MNIST (the evaluation's base)
#   fmnist-rad   rad-lora from fmnist-base (the paper's setup)
#   fmnist-cfg2  rad-lora from fmnist-base with the scalar embedding (Cfg. 2)
#   fmnist-full  rad-full from scratch on Fashion-MNIST
# Exports (fp16 for full models, via the wheel's safetensors), logs and
# sample grids go to $OUT as one tar per run.
set -uo pipefail
cd "$(dirname "$0")/.."
T_PHOTO=${T_PHOTO:-440}   # seconds of training per run
T_BASE=${T_BASE:-190}
T_LORA=${T_LORA:-190}
source scripts/gpu-env.sh
W=/tmp/runs; mkdir -p $W
common="--device cuda --seed 1 --quiet --steps 10000000 --save-every 2000 --keep 1 --lr 2e-4"
fp16() { # src dst: float tensors to fp16, metadata kept
  $PY - "$1" "$2" <<'PYEOF'
import sys, torch
from safetensors import safe_open
from safetensors.torch import save_file
with safe_open(sys.argv[1], "pt") as f:
    meta = f.metadata()
    t = {k: (f.get_tensor(k).half() if f.get_tensor(k).is_floating_point() else f.get_tensor(k)) for k in f.keys()}
save_file(t, sys.argv[2], metadata=meta)
PYEOF
}
train() { # name args...
  local name=$1; shift
  ./bin/radctl train --out $W/$name $common "$@" > $W/$name.log 2>&1
  echo "$name: exit $? after $(( $(date +%s) - t0 )) s: $(tail -c 300 $W/$name.log | tr '\n' ' ')" | tee -a "$OUT/summary.txt"
}
FM=.gpudata/fmnist/train-images-idx3-ubyte.gz
train photo --objective rad-full --config models/configs/photo.json --data .gpudata/photos \
  --batch-size 64 --random-crop --zoom-max 8 --mask-kind mixed --max-time ${T_PHOTO}s --sample-every 4000 &
train fmnist-full --objective rad-full --config models/configs/fmnist.json --data $FM \
  --batch-size 128 --max-time $(( T_BASE + T_LORA + 20 ))s --sample-every 4000 &
train fmnist-base --objective adm --config models/configs/fmnist.json --data $FM \
  --batch-size 128 --max-time ${T_BASE}s --sample-every 4000
fp16 $W/fmnist-base/model.safetensors $W/fmnist-base.fp16.safetensors
BASE=$W/fmnist-base.fp16.safetensors
./bin/radctl inspect --model $BASE > $W/inspect.txt 2>&1 || { echo "fp16 base unreadable, LoRA on fp32" | tee -a "$OUT/summary.txt"; BASE=$W/fmnist-base/model.safetensors; }
for name in rad cfg2; do
  extra=""; [ $name = cfg2 ] && extra="--scalar-embedding"
  train fmnist-$name --objective rad-lora --base $BASE --data $FM \
    --batch-size 128 --max-time ${T_LORA}s --sample-every 4000 $extra &
done
wait
for r in photo fmnist-full; do fp16 $W/$r/model.safetensors $W/$r.fp16.safetensors; fp16 $W/$r/model-raw.safetensors $W/$r-raw.fp16.safetensors; done
cd $W
tar czf "$OUT/photo.tgz" photo.fp16.safetensors photo-raw.fp16.safetensors photo.log photo/train.jsonl photo/loss.png photo/samples photo/config.json
tar czf "$OUT/fmnist.tgz" fmnist-base.fp16.safetensors fmnist-base/model-raw.safetensors fmnist-*.log fmnist-*/train.jsonl fmnist-*/loss.png fmnist-*/samples fmnist-*/config.json \
  fmnist-rad/adapter.safetensors fmnist-rad/adapter-raw.safetensors fmnist-cfg2/adapter.safetensors fmnist-cfg2/adapter-raw.safetensors
tar czf "$OUT/fmnist-full.tgz" fmnist-full.fp16.safetensors fmnist-full-raw.fp16.safetensors
ls -la "$OUT"
echo "total: $(( $(date +%s) - t0 )) s" | tee -a "$OUT/summary.txt"
