#!/usr/bin/env bash
# The Fashion-MNIST base's curve (issue 26): the FID-FMNIST and KID-FMNIST of
# N (500) unconditional samples (radctl eval --masks full: the whole image is
# the hole; DDIM, STEPS=50 calls) of each exported checkpoint
# RUN/model-<step>.safetensors (radctl train --save-every), against the first N
# held-out t10k images with the stand-in classifier's features. Evaluations
# are kept (--resume; a finished checkpoint is skipped), the table goes to
# OUT/curve.csv and the plot to PLOT (docs/fmnist-base-fid.png).
#   RUN=$HOME/runs-fm/base bash scripts/fmnist-base-curve.sh
#   EVERY=500 ... only the checkpoints whose step is a multiple of EVERY
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-$HOME/runs-fm/base} N=${N:-500} STEPS=${STEPS:-50} EVERY=${EVERY:-1}
OUT=${OUT:-out/fmnist-base-curve} PLOT=${PLOT:-docs/fmnist-base-fid.png} BS=${BS:-100}
FM=${RAD_DATA:-data}/fashion-mnist
[ -f $FM/t10k-images-idx3-ubyte.gz ] || bash scripts/fetch-data.sh fmnist >/dev/null
[ -x bin/radctl ] || go build -o bin/radctl ./cmd/radctl
# steps before step 0, added to the x axis (0: the steps of RUN)
BASE_STEPS=${BASE_STEPS:-0}
mkdir -p "$OUT"
# step 0: where RUN started (START, default the shipped base)
START=${START:-models/fmnist-base.safetensors}
for f in "$START" $(ls "$RUN"/model-[0-9]*.safetensors 2>/dev/null | sort); do
  step=0
  [ "$f" = "$START" ] || step=$((10#$(basename "$f" .safetensors | sed 's/model-//')))
  [ $((step % EVERY)) -eq 0 ] || continue
  d=$OUT/step-$step
  [ -f $d/report.json ] && continue
  echo "checkpoint $step: $(date +%T)"
  ./bin/radctl eval --data $FM/t10k-images-idx3-ubyte.gz --base "$f" --masks full --n "$N" \
    --sampler rad-ddim --steps "$STEPS" --batch-size "$BS" --out "$d" --resume >/dev/null
done
/usr/bin/python3 - "$OUT" "$BASE_STEPS" <<'PY'
import json, glob, os, sys
out, base = sys.argv[1], int(sys.argv[2])
rows = []
for d in glob.glob(os.path.join(out, 'step-*')):
    try:
        r = json.load(open(os.path.join(d, 'report.json')))['rows'][0]
    except (OSError, KeyError, IndexError, ValueError):
        continue
    rows.append((base + int(d.rsplit('-', 1)[1]), r['fid'], r['kid_mean'], r['kid_std'], r['images']))
rows.sort()
with open(os.path.join(out, 'curve.csv'), 'w') as f:
    f.write('step,fid\n' + ''.join(f'{s},{fid:.3f}\n' for s, fid, *_ in rows))
with open(os.path.join(out, 'kid.csv'), 'w') as f:
    f.write('step,kid,kid_std\n' + ''.join(f'{s},{k:.4f},{sd:.4f}\n' for s, _, k, sd, _ in rows))
print('| steps | samples | FID-FMNIST | KID-FMNIST (mean ± std) |\n|---|---|---|---|')
for s, fid, k, sd, n in rows:
    print(f'| {s} | {n} | {fid:.2f} | {k:.3f} ± {sd:.3f} |')
PY
[ -s "$OUT/curve.csv" ] && [ "$(wc -l < "$OUT/curve.csv")" -gt 1 ] &&
  go run ./eval/cmd/curve -out "$PLOT" -title "Fashion-MNIST base: FID-FMNIST of $N unconditional samples (DDIM $STEPS)" \
    -y FID-FMNIST -series "base=$OUT/curve.csv" && echo "plot: $PLOT"
