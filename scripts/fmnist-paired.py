#!/usr/bin/python3
"""Paired per-image differences between two `radctl eval` runs.

Both runs must have inpainted the same images under the same masks (the
mask of image i depends on i and the mask seed only), so the difference of
a per-image metric is paired: its standard error is that of the
differences, much smaller than the two runs' spreads combined.

    /usr/bin/python3 scripts/fmnist-paired.py A_DIR B_DIR [--n 100] [--kinds box,wide,extreme]

prints, per mask kind, the images both runs have (the first --n of them),
each run's mean PSNR over the hole and LPIPS-style distance, and A - B with
its paired standard error.
"""
import argparse
import csv
import math
import os
import sys


def per_image(d, kind):
    path = os.path.join(d, f'per-image-{kind}.csv')
    with open(path) as f:
        return {int(r['index']): r for r in csv.DictReader(f)}


def mean_se(xs):
    n = len(xs)
    m = sum(xs) / n
    if n < 2:
        return m, float('nan')
    v = sum((x - m) ** 2 for x in xs) / (n - 1)
    return m, math.sqrt(v / n)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('a')
    p.add_argument('b')
    p.add_argument('--n', type=int, default=0, help='the first n common images (0: all)')
    p.add_argument('--kinds', default='box,wide,extreme')
    p.add_argument('--names', default='', help='A,B labels for the table (default: the folder names)')
    args = p.parse_args()
    na, nb = (args.names.split(',') if args.names else
              (os.path.basename(args.a.rstrip('/')), os.path.basename(args.b.rstrip('/'))))
    print(f'| masks | metric | images | {na} | {nb} | {na} - {nb} (paired mean ± SE) |')
    print('|---|---|---|---|---|---|')
    for kind in args.kinds.split(','):
        try:
            a, b = per_image(args.a, kind), per_image(args.b, kind)
        except OSError as e:
            print(f'{kind}: {e}', file=sys.stderr)
            continue
        idx = sorted(set(a) & set(b))
        if args.n:
            idx = idx[:args.n]
        if not idx:
            print(f'{kind}: no image in both runs', file=sys.stderr)
            continue
        for key, label, fmt in (('psnr_hole', 'PSNR hole (dB)', '{:.2f}'), ('lpips_style', 'LPIPS-style', '{:.5f}')):
            xa = [float(a[i][key]) for i in idx]
            xb = [float(b[i][key]) for i in idx]
            ma, _ = mean_se(xa)
            mb, _ = mean_se(xb)
            md, se = mean_se([x - y for x, y in zip(xa, xb)])
            print(f'| {kind} | {label} | {len(idx)} | {fmt.format(ma)} | {fmt.format(mb)} | '
                  f'{fmt.format(md)} ± {fmt.format(se)} |')


if __name__ == '__main__':
    main()
