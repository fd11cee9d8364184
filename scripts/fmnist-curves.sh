#!/usr/bin/env bash
# Learning curves of the paper's comparison on Fashion-MNIST (issue 26): RAD's
# LoRA and Cfg. 2's (scalar embedding) trained from one base with the same
# batch and lr, each checkpoint at a budget in BUDGETS evaluated on box, wide
# and extreme masks (N held-out images, the paired KID, LPIPS-style, PSNR);
# Cfg. 1 (the base under RAD's sampler) on N and RePaint on the base on RP_N,
# as horizontal lines; and at every budget what each model knows at each noise
# level (radctl x0err on the first 200 t10k images, box masks). The mean fill
# is the floor; every method is also scored on RePaint's RP_N images
# (OUT/first<RP_N>/, from the kept batches) with its per-image PSNR and
# LPIPS-style against RePaint's, paired (OUT/table-first<RP_N>.md). One training
# run per adapter gives every budget (constant lr: the checkpoint at step B is
# a run of budget B). Everything resumes: training with --resume auto, each
# evaluation with --resume and skipped when its report exists.
#   BASE=$HOME/runs-fm/base/model.safetensors bash scripts/fmnist-curves.sh
#   STAGE=train|eval|plot runs one stage (default: all)
# Env: BUDGETS ("300 1000 3000", multiples of SAVE, 100), N (300), RP_N (100), BS (64, training batch),
# LR (2e-4), RUNS ($HOME/runs-fm), OUT (out/fmnist-curves), DOCS (docs),
# THREADS (1 per process; the two trainings run side by side).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${BASE:-$HOME/runs-fm/base/model.safetensors} BUDGETS=${BUDGETS:-300 1000 3000}
SAVE=${SAVE:-100} N=${N:-300} RP_N=${RP_N:-100} BS=${BS:-64} LR=${LR:-2e-4} RUNS=${RUNS:-$HOME/runs-fm}
OUT=${OUT:-out/fmnist-curves} DOCS=${DOCS:-docs} THREADS=${THREADS:-1} STAGE=${STAGE:-all}
FM=${RAD_DATA:-data}/fashion-mnist
[ -f $FM/train-images-idx3-ubyte.gz ] || bash scripts/fetch-data.sh fmnist >/dev/null
[ -f "$BASE" ] || { echo "fmnist-curves: no base $BASE" >&2; exit 2; }
[ -x bin/radctl ] || go build -o bin/radctl ./cmd/radctl
R=./bin/radctl
last=$(echo $BUDGETS | tr ' ' '\n' | sort -n | tail -1)
export RADTORCH_THREADS=$THREADS
mkdir -p "$OUT" "$RUNS" "$DOCS"

if [ "$STAGE" = all ] || [ "$STAGE" = train ]; then
  pids=()
  for a in rad cfg2; do
    extra=(); [ $a = cfg2 ] && extra=(--scalar-embedding)
    [ -f "$RUNS/$a/adapter-$(printf %08d $last).safetensors" ] && continue
    $R train --objective rad-lora --base "$BASE" --data $FM/train-images-idx3-ubyte.gz --out "$RUNS/$a" \
      --seed 1 --steps "$last" --batch-size "$BS" --lr "$LR" --save-every "$SAVE" --keep -1 --resume auto --quiet \
      "${extra[@]}" > "$RUNS/$a.log" 2>&1 & pids+=($!)
  done
  [ ${#pids[@]} -eq 0 ] || wait "${pids[@]}"
fi

ev() { # name args...
  local name=$1; shift
  [ -f "$OUT/$name/report.json" ] && return
  echo "eval $name: $(date +%T)"
  $R eval --data $FM/t10k-images-idx3-ubyte.gz --masks box,wide,extreme --out "$OUT/$name" --resume "$@" >/dev/null
}
# evfirst NAME: NAME's N images read back from its kept batches (linked: the same batches, nothing is
# sampled again) into OUT/first<RP_N>/NAME, with its first RP_N (the images RePaint ran on) also
# scored on their own (--subset rows); args as ev's but --n
evfirst() {
  local name=$1; shift
  [ -f "$OUT/$name/report.json" ] || return 0
  mkdir -p "$OUT/first$RP_N/$name"; ln -sfn "../../$name/parts" "$OUT/first$RP_N/$name/parts"
  ev "first$RP_N/$name" --n "$N" --subset "$RP_N" "$@"
}
x0() { # name args...
  local name=$1; shift
  [ -f "$OUT/x0-$name.json" ] && return
  [ -f "$OUT/t10k-200.gz" ] || /usr/bin/python3 -c "
import gzip; d = gzip.open('$FM/t10k-images-idx3-ubyte.gz').read(); n = 200
h = bytearray(d[:16]); h[4:8] = n.to_bytes(4, 'big'); gzip.open('$OUT/t10k-200.gz', 'wb').write(bytes(h) + d[16:16 + n * 784])"
  $R x0err --data "$OUT/t10k-200.gz" --masks box --json "$OUT/x0-$name.json" "$@" > "$OUT/x0-$name.md"
}
if [ "$STAGE" = all ] || [ "$STAGE" = eval ]; then
  ev cfg1 --base "$BASE" --sampler rad --n "$N"
  ev mean-fill --base "$BASE" --sampler mean-fill --n "$N"
  evfirst cfg1 --base "$BASE" --sampler rad
  evfirst mean-fill --base "$BASE" --sampler mean-fill
  # RePaint's report is named by its N (repaint-<RP_N>); its batches are kept in one place, OUT/repaint/parts,
  # so a larger RP_N later samples only the images it adds
  mkdir -p "$OUT/repaint/parts" "$OUT/repaint-$RP_N"; ln -sfn ../repaint/parts "$OUT/repaint-$RP_N/parts"
  ev repaint-$RP_N --base "$BASE" --sampler repaint --n "$RP_N" --batch-size 50
  x0 base-repaint --base "$BASE" --mode repaint
  x0 cfg1 --base "$BASE" --mode rad
  for b in $BUDGETS; do
    for a in rad cfg2; do
      ad="$RUNS/$a/adapter-$(printf %08d $b).safetensors"
      [ -f "$ad" ] || { echo "no $ad yet: skipped"; continue; }
      extra=(); mode=rad; [ $a = cfg2 ] && { extra=(--scalar-embedding); mode=cfg2; }
      ev $a-$b --base "$BASE" --lora "$ad" --sampler rad --n "$N" "${extra[@]}"
      evfirst $a-$b --base "$BASE" --lora "$ad" --sampler rad "${extra[@]}"
      x0 $a-$b --base "$BASE" --lora "$ad" --mode $mode
    done
  done
fi

if [ "$STAGE" = all ] || [ "$STAGE" = plot ]; then
  /usr/bin/python3 - "$OUT" "$RP_N" <<'PY'
import glob, importlib.util, json, os, sys
out, rp_n = sys.argv[1], int(sys.argv[2])
spec = importlib.util.spec_from_file_location('fmnist_paired', 'scripts/fmnist-paired.py')
fp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fp)  # per_image, mean_se: the paired differences of scripts/fmnist-paired.py
def rows(name, subset=False):  # the report's rows of all its images, or of its --subset
    try:
        return {r['masks']: r for r in json.load(open(os.path.join(out, name, 'report.json')))['rows'] if bool(r.get('subset')) == subset}
    except (OSError, ValueError, KeyError):
        return {}
metrics = {'kid': ('kid_mean', 'kid_std'), 'lpips': ('lpips_style', None), 'psnr': ('psnr_hole', None), 'fid': ('fid', None)}
ref = {'cfg1': rows('cfg1'), 'repaint': rows(f'repaint-{rp_n}')}
table = ['| masks | method | steps | images | FID | KID (mean ± std) | LPIPS-style | PSNR hole |', '|---|---|---|---|---|---|---|---|']
for a in ('rad', 'cfg2'):
    runs = sorted((int(d.rsplit('-', 1)[1]), rows(os.path.basename(d))) for d in glob.glob(os.path.join(out, a + '-[0-9]*')))
    for kind in ('box', 'wide', 'extreme'):
        for m, (key, spread) in metrics.items():
            with open(os.path.join(out, f'{a}-{kind}-{m}.csv'), 'w') as f:
                f.write('step,value,spread\n')
                for step, r in runs:
                    if kind in r:
                        f.write(f'{step},{r[kind][key]},{r[kind][spread] if spread else 0}\n')
        for step, r in runs:
            if kind in r:
                x = r[kind]
                table.append(f"| {kind} | {a} | {step} | {x['images']} | {x['fid']:.1f} | {x['kid_mean']:.2f} ± {x['kid_std']:.2f} | {x['lpips_style']:.4f} | {x['psnr_hole']:.2f} |")
for name, r in ref.items():
    for kind, x in r.items():
        table.append(f"| {kind} | {name} | - | {x['images']} | {x['fid']:.1f} | {x['kid_mean']:.2f} ± {x['kid_std']:.2f} | {x['lpips_style']:.4f} | {x['psnr_hole']:.2f} |")
        for m, (key, _) in metrics.items():
            open(os.path.join(out, f'ref-{name}-{kind}-{m}.txt'), 'w').write(str(x[key]))
open(os.path.join(out, 'table.md'), 'w').write('\n'.join(table) + '\n')
print('\n'.join(table))
# RePaint's images (the first RP_N per kind): every method scored on them, and each one's
# per-image PSNR and LPIPS-style against RePaint's on the same image (paired mean ± SE).
def per_image(d, kind):
    try:
        return {i: r for i, r in fp.per_image(d, kind).items() if i < rp_n}
    except OSError:
        return {}
def paired(a, b, key):
    idx = sorted(set(a) & set(b))
    if len(idx) < 2:
        return None
    return fp.mean_se([float(a[i][key]) - float(b[i][key]) for i in idx])
first = os.path.join(out, f'first{rp_n}')
names = sorted(os.path.basename(d) for d in glob.glob(os.path.join(first, '*')) if os.path.isfile(os.path.join(d, 'report.json')))
rp = os.path.join(out, f'repaint-{rp_n}')
table = [f'| masks | method | images | FID | KID (mean ± std) | LPIPS-style | PSNR hole | PSNR - RePaint (paired) | LPIPS-style - RePaint (paired) |',
         '|---|---|---|---|---|---|---|---|---|']
for kind in ('box', 'wide', 'extreme'):
    ref = per_image(rp, kind)
    for name in names + ['repaint']:
        d = rp if name == 'repaint' else os.path.join(first, name)
        x = rows(os.path.relpath(d, out), subset=name != 'repaint').get(kind)
        if not x:
            continue
        cells = []
        for key, fmt in (('psnr_hole', '{:+.2f} ± {:.2f}'), ('lpips_style', '{:+.5f} ± {:.5f}')):
            pr = paired(per_image(d, kind), ref, key) if name != 'repaint' else None
            cells.append(fmt.format(*pr) if pr else '-')
        table.append(f"| {kind} | {name} | {x['images']} | {x['fid']:.1f} | {x['kid_mean']:.2f} ± {x['kid_std']:.2f} | {x['lpips_style']:.4f} | {x['psnr_hole']:.2f} | " + ' | '.join(cells) + ' |')
open(os.path.join(out, f'table-first{rp_n}.md'), 'w').write('\n'.join(table) + '\n')
print('\n'.join(table))
# What each model knows at each noise level: x0 MSE over box holes by k.
def x0(name):
    try:
        return {r['k']: r for r in json.load(open(os.path.join(out, f'x0-{name}.json')))['rows']}
    except (OSError, ValueError, KeyError):
        return {}
cols = [('base, RePaint states', 'base-repaint'), ('Cfg. 1', 'cfg1')]
for a, label in (('rad', 'RAD'), ('cfg2', 'Cfg. 2')):
    steps = sorted(int(f.rsplit('-', 1)[1][:-5]) for f in glob.glob(os.path.join(out, f'x0-{a}-[0-9]*.json')))
    cols += [(f'{label} {s}', f'{a}-{s}') for s in steps]
    for k in (300, 500, 700, 900):
        with open(os.path.join(out, f'{a}-x0-k{k}.csv'), 'w') as f:
            f.write('step,value,spread\n')
            for s in steps:
                r = x0(f'{a}-{s}').get(k)
                if r:
                    f.write(f"{s},{r['model']},{r['model_se']}\n")
data = {name: x0(name) for _, name in cols}
ks = sorted({k for d in data.values() for k in d})
lines = ['| k | abar_k | ' + ' | '.join(c for c, _ in cols) + ' | known mean |', '|---' * (len(cols) + 3) + '|']
for k in ks:
    first = next(d[k] for d in data.values() if k in d)
    cells = [f"{data[n][k]['model']:.4f} ± {data[n][k]['model_se']:.4f}" if k in data[n] else '-' for _, n in cols]
    lines.append(f"| {k} | {first['abar']:.3g} | " + ' | '.join(cells) + f" | {first['known_mean']:.3f} |")
    for _, n in cols[:2]:
        if k in data[n]:
            open(os.path.join(out, f'ref-{n}-x0-k{k}.txt'), 'w').write(str(data[n][k]['model']))
open(os.path.join(out, 'x0-table.md'), 'w').write('\n'.join(lines) + '\n')
print('\n'.join(lines))
PY
  # plot NAME Y TITLE REF=LABEL...: RAD and Cfg. 2 from OUT/<a>-NAME.csv,
  # each reference line from OUT/ref-REF-NAME.txt, to DOCS/fmnist-curve-NAME.png
  plot() {
    local name=$1 y=$2 title=$3 h=() r; shift 3
    [ -f "$OUT/rad-$name.csv" ] && [ "$(wc -l < "$OUT/rad-$name.csv")" -gt 1 ] || return 0
    for r in "$@"; do
      [ -f "$OUT/ref-${r%%=*}-$name.txt" ] && h+=(-hline "${r#*=}=$(cat "$OUT/ref-${r%%=*}-$name.txt")")
    done
    go run ./eval/cmd/curve -out "$DOCS/fmnist-curve-$name.png" -logx -y "$y" -title "$title" \
      -series "RAD=$OUT/rad-$name.csv" -series "Cfg. 2=$OUT/cfg2-$name.csv" "${h[@]}"
  }
  for k in 300 500 700 900; do
    plot x0-k$k "x0 MSE over the hole" "Fashion-MNIST, box holes: x0-prediction error at k = $k" \
      "base-repaint=base, RePaint states" "cfg1=Cfg. 1"
  done
  for kind in box wide extreme; do
    for m in kid lpips psnr; do
      plot $kind-$m "$m" "Fashion-MNIST, $kind masks: $m against adapter training steps" cfg1="Cfg. 1" repaint="RePaint (first $RP_N images)"
    done
  done
fi
